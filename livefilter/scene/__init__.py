"""The scene stage: person segmentation, background (keep / blur / replace) and the look's colour
grade. Host versions (NumPy / OpenCV / onnxruntime) and their device twins (torch) side by side:
``segment.py`` / ``device_segment.py``, ``background.py`` + ``grade.py`` / ``device_compose.py``,
``stage.py`` / ``device_stage.py``."""
