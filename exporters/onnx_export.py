"""Student checkpoint -> ONNX (pinned opset, dynamic batch, named inputs) + parity and FP16 checks."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from livefilter.errors import ModelError

log = logging.getLogger(__name__)

OPSET = 17  # pinned: TensorRT 10, onnxruntime >= 1.14 and torch's exporter all support it
INPUTS = ("image", "style", "strength")
OUTPUT = "output"


@dataclass
class ExportReport:
    path: str
    opset: int
    parity_max_abs: float  # onnxruntime vs torch, on the [-1, 1] output scale
    fp16_psnr_db: float  # FP16 graph vs FP32 graph, on the [0, 255] image scale
    fp16_max_abs: float
    fp16_safe: bool
    simplified: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _example_inputs(batch: int, size: int, style_dim: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    style = torch.randn(batch, style_dim, generator=g)
    strength = torch.rand(batch, 1, generator=g)
    return image, style, strength


def _simplify(path: Path) -> bool:
    try:
        import onnxslim
    except ImportError:
        log.info("onnxslim not installed; graph left as exported")
        return False
    import onnx

    model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))
    return True


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))


def _run(path_or_model, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    src = path_or_model if isinstance(path_or_model, (str, bytes)) else path_or_model.SerializeToString()
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run([OUTPUT], feeds)[0]


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(peak * peak / mse)


def fp16_check(path: Path, feeds: dict[str, np.ndarray], threshold_db: float = 40.0) -> tuple[float, float, bool]:
    """Convert the graph to FP16 (I/O kept FP32) and compare with FP32: (PSNR dB, max abs, safe?)."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(path))
    del model.graph.value_info[:]  # stale FP32 shape/type hints make the converter emit bad casts
    fp16 = float16.convert_float_to_float16(model, keep_io_types=True)
    ref = _run(str(path), feeds)
    half = _run(fp16, feeds)
    to_img = lambda y: (np.clip(y, -1, 1) + 1) * 127.5  # noqa: E731
    db = psnr(to_img(ref), to_img(half))
    return db, float(np.abs(ref - half).max()), db >= threshold_db


def export_onnx(
    model,
    out_path: Path,
    *,
    input_size: int,
    style_dim: int,
    look_name: str = "",
    normalisation: dict | None = None,
    simplify: bool = True,
    check_batch: int = 3,
) -> ExportReport:
    """Export a ``forward(image, style, strength)`` generator; checks parity in onnxruntime."""
    import torch

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    example = _example_inputs(1, input_size, style_dim)
    dynamic = {name: {0: "faces"} for name in INPUTS + (OUTPUT,)}
    try:
        torch.onnx.export(model, example, str(out_path), input_names=list(INPUTS), output_names=[OUTPUT],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True)
    except Exception as e:  # the exporter raises many types for unsupported ops
        raise ModelError(f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    simplified = _simplify(out_path) if simplify else False
    _set_metadata(out_path, {
        "livefilter.look": look_name,
        "livefilter.input_size": str(input_size),
        "livefilter.style_dim": str(style_dim),
        "livefilter.normalisation": json.dumps(normalisation or {"mean": [0.5] * 3, "std": [0.5] * 3}),
        "livefilter.opset": str(OPSET),
    })
    image, style, strength = _example_inputs(check_batch, input_size, style_dim, seed=1)
    with torch.no_grad():
        ref = model(image, style, strength).numpy()
    feeds = {"image": image.numpy(), "style": style.numpy(), "strength": strength.numpy()}
    got = _run(str(out_path), feeds)
    parity = float(np.abs(got - ref).max())
    db, max_abs, safe = fp16_check(out_path, feeds)
    report = ExportReport(str(out_path), OPSET, parity, db, max_abs, safe, simplified)
    log.info("exported %s: parity %.2e, FP16 %.1f dB", out_path, parity, db)
    return report
