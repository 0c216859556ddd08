"""The look's student as an FP16 ONNX graph with FP32 inputs and outputs.

TensorRT 11 removed weak typing (no ``BuilderFlag.FP16``): every network is strongly typed, so
the precision of each layer is the precision of its tensors in the ONNX graph. An FP16 engine is
therefore built from an FP16 graph. onnxconverter-common's ``convert_float_to_float16`` with
``keep_io_types`` casts the weights and activations to FP16 and inserts casts at the graph's
inputs and outputs, so the engine's bindings stay FP32 (the pipeline hands it FP32 crops, and the
host path's pinned buffers are FP32). TensorRT 10 builds the same graph with the
``STRONGLY_TYPED`` network flag, so both versions give the same engine.
"""

from __future__ import annotations

from pathlib import Path

from livefilter.errors import BackendUnavailable, ModelError


def fp16_onnx_bytes(path: Path) -> bytes:
    """The serialised FP16 graph (FP32 I/O) of the ONNX file at ``path``."""
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError:
        raise BackendUnavailable("tensorrt fp16: onnxconverter-common not installed — "
                                 "pip install 'livefilter[gpu]'") from None
    try:
        model = onnx.load(str(path))
        del model.graph.value_info[:]  # stale FP32 shape/type hints make the converter emit bad casts
        for i, node in enumerate(model.graph.node):
            if not node.name:  # the converter names its casts after the nodes: unnamed ones collide
                node.name = f"{node.op_type}_{i}"
        half = float16.convert_float_to_float16(model, keep_io_types=True)
    except Exception as e:  # a graph the converter cannot handle is the model's problem, on one line
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{Path(path).name}: cannot convert to FP16 ({first})") from None
    return half.SerializeToString()
