"""Look packs: a folder (or ``.lfpack`` zip) holding look.json, student.onnx and preview.jpg."""

from livefilter.looks.pack import Look, load_look, validate_onnx_inputs
from livefilter.looks.registry import LookRegistry

__all__ = ["Look", "LookRegistry", "load_look", "validate_onnx_inputs"]
