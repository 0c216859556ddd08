"""Checkpoint -> ONNX -> TensorRT engine; per-machine engine cache; parity checks."""
