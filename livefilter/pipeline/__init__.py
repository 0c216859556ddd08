"""The pipelines: the run loop with the host styling (`host.py`), the device styling (`device.py`) and their builder from settings (`session.py`)."""
