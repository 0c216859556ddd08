"""Student checkpoint -> ONNX (pinned opset, dynamic batch, named inputs) + parity and FP16 checks.

Exporter choice (torch 2.13): the TorchScript exporter (``dynamo=False``). The torch.export-based
exporter needs onnxscript, takes ~25x longer on the student, and at opset 17 emits ``Split`` with the
opset-18 ``num_outputs`` attribute, which onnxruntime rejects as an invalid graph. The TorchScript
exporter's deprecation warnings are silenced here; revisit when moving the pinned opset to >= 18.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livefilter.errors import ModelError

log = logging.getLogger(__name__)

OPSET = 17  # pinned: TensorRT 10, onnxruntime >= 1.14 and torch's exporter all support it
INPUTS = ("image", "style", "strength")
OUTPUT = "output"


FP16_SAFE_DB = 40.0  # FP16 vs FP32 PSNR on the [0, 255] scale below which FP16 engines are flagged


@dataclass
class ExportReport:
    path: str
    opset: int
    parity_max_abs: float  # onnxruntime vs torch, on the [-1, 1] output scale (worst over all batches)
    fp16_psnr_db: float  # FP16 graph vs FP32 graph, on the [0, 255] image scale
    fp16_max_abs: float
    fp16_safe: bool
    simplified: bool
    simplifier: str = ""  # onnxslim | onnxsim | "" (none)
    batches_checked: list[int] = field(default_factory=list)  # dynamic batch sizes run through onnxruntime
    onnx_sha256: str = ""
    export_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def torchscript_export(model: Any, args: Any, path: Path | str, **kwargs: Any) -> None:
    """``torch.onnx.export`` with the TorchScript exporter (see the module docstring for why), its
    deprecation and tracer warnings silenced: every ONNX export of the project goes through here."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(model, args, str(path), dynamo=False, **kwargs)


def _example_inputs(batch: int, size: int, style_dim: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    style = torch.randn(batch, style_dim, generator=g)
    strength = torch.rand(batch, 1, generator=g)
    return image, style, strength


def _simplify(path: Path) -> str:
    """Simplify in place with onnxslim (or onnxsim when only that is installed); returns which ran."""
    import onnx

    try:
        import onnxslim

        onnx.save(onnxslim.slim(onnx.load(str(path))), str(path))
        return "onnxslim"
    except ImportError:
        pass
    try:
        import onnxsim
    except ImportError:
        log.info("neither onnxslim nor onnxsim is installed; graph left as exported")
        return ""
    model, ok = onnxsim.simplify(onnx.load(str(path)))
    if not ok:
        log.warning("onnxsim could not validate the simplified graph; keeping the exported one")
        return ""
    onnx.save(model, str(path))
    return "onnxsim"


def _set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))


def _run(path_or_model, feeds: dict[str, np.ndarray]) -> np.ndarray:
    from livefilter.infra.onnx_session import create_session

    src = path_or_model if isinstance(path_or_model, (str, bytes)) else path_or_model.SerializeToString()
    sess = create_session(src, providers=["CPUExecutionProvider"])
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
    check_batches: tuple[int, ...] = (1, 2, 3, 4),
    opset: int = OPSET,
    fp16_threshold_db: float = FP16_SAFE_DB,
    dynamic_size: bool = False,
    check_sizes: tuple[int, ...] = (),
) -> ExportReport:
    """Export a ``forward(image, style, strength)`` generator; checks parity in onnxruntime.

    ``opset`` is pinned (:data:`OPSET`); the argument exists for experiments, not for looks.
    Parity is checked at every batch size in ``check_batches`` (the dynamic batch axis), and the
    FP16 report on a ``check_batch`` batch. ``dynamic_size`` also makes height and width dynamic (a
    fully convolutional student serves a CPU and a GPU input size from one graph); parity is then
    checked at every size in ``check_sizes`` too.
    """
    import torch

    t0 = time.perf_counter()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    example = _example_inputs(1, input_size, style_dim)
    dynamic: dict[str, dict[int, str]] = {name: {0: "faces"} for name in INPUTS + (OUTPUT,)}
    if dynamic_size:
        for name in ("image", OUTPUT):
            dynamic[name] |= {2: "height", 3: "width"}
    try:
        torchscript_export(model, example, out_path, input_names=list(INPUTS), output_names=[OUTPUT],
                           dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True)
    except Exception as e:  # the exporter raises many types for unsupported ops
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ModelError(f"ONNX export failed: {type(e).__name__}: {msg}") from None
    simplifier = _simplify(out_path) if simplify else ""
    _set_metadata(out_path, {
        "livefilter.look": look_name,
        "livefilter.input_size": str(input_size),
        "livefilter.style_dim": str(style_dim),
        "livefilter.normalisation": json.dumps(normalisation or {"mean": [0.5] * 3, "std": [0.5] * 3}),
        "livefilter.opset": str(opset),
    })
    from livefilter.infra.onnx_session import create_session

    sess = create_session(out_path, providers=["CPUExecutionProvider"])
    # (batch, size) pairs checked against torch: every dynamic batch, and every size when it is dynamic
    cases = [(n, input_size, f"batch {n}") for n in sorted(set(check_batches) | {check_batch})]
    cases += [(2, size, f"size {size}") for size in (check_sizes if dynamic_size else ())]
    parity = 0.0
    for n, size, what in cases:
        image, style, strength = _example_inputs(n, size, style_dim, seed=n + size)
        with torch.no_grad():
            ref = model(image, style, strength).numpy()
        got = sess.run([OUTPUT], {"image": image.numpy(), "style": style.numpy(), "strength": strength.numpy()})[0]
        if got.shape != ref.shape:
            raise ModelError(f"ONNX export: {what} gives shape {got.shape}, torch gives {ref.shape} (dynamic axes broken)")
        parity = max(parity, float(np.abs(got - ref).max()))
    image, style, strength = _example_inputs(check_batch, input_size, style_dim, seed=1)
    feeds = {"image": image.numpy(), "style": style.numpy(), "strength": strength.numpy()}
    db, max_abs, safe = fp16_check(out_path, feeds, fp16_threshold_db)
    from livefilter.looks.pack import sha256_file

    report = ExportReport(str(out_path), opset, parity, db, max_abs, safe, bool(simplifier), simplifier,
                          sorted(set(check_batches) | {check_batch}), sha256_file(out_path),
                          round(time.perf_counter() - t0, 3))
    log.info("exported %s: parity %.2e over batches %s, FP16 %.1f dB (%s)", out_path, parity,
             report.batches_checked, db, "safe" if safe else "NOT fp16-safe")
    return report


def onnx_metadata(path: Path) -> dict[str, str]:
    """The ``livefilter.*`` metadata_props of an exported graph."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


STUDENT_PREFIXES = ("model.S.", "model.student.")  # distillation checkpoints; plain state dicts have none


def _strip_student(tensors: dict[str, Any]) -> dict[str, Any]:
    for prefix in STUDENT_PREFIXES:
        picked = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if picked:
            return picked
    return {k: v for k, v in tensors.items() if not k.startswith(("optim.", "rng.", "model."))}


def load_student_checkpoint(path: Path) -> tuple[dict[str, Any], dict]:
    """(student state_dict, meta) from a checkpoint. Never unpickles arbitrary objects.

    ``.safetensors`` is read with safetensors (meta from its ``livefilter`` metadata entry); ``.pt``
    / ``.pth`` / ``.bin`` only through ``torch.load(weights_only=True)``, which refuses anything but
    tensors and plain containers. Any unreadable or foreign file is a one-line :class:`ModelError`.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    meta: dict = {}
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            tensors = {}
            with safe_open(str(path), "pt") as f:
                for k in f.keys():
                    tensors[k] = f.get_tensor(k)
                raw = (f.metadata() or {}).get("livefilter")
            meta = json.loads(raw).get("meta", {}) if raw else {}
        except ImportError:
            raise ModelError("reading .safetensors checkpoints needs safetensors (pip install 'livefilter[train]')") from None
        except Exception as e:  # SafetensorError, OSError, JSON errors: all mean "not a usable checkpoint"
            raise ModelError(f"{path.name} is not a valid safetensors checkpoint ({type(e).__name__})") from None
    elif path.suffix in (".pt", ".pth", ".bin"):
        import torch

        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # UnpicklingError for anything that is not plain tensors
            first = str(e).strip().splitlines()[0][:120] if str(e).strip() else ""
            raise ModelError(f"{path.name} is not a plain-tensor checkpoint ({type(e).__name__}: {first})") from None
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            meta = {k: v for k, v in obj.items() if k != "state_dict" and isinstance(v, (int, float, str, dict, list))}
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
            raise ModelError(f"{path.name} does not hold a state dict of tensors")
        tensors = obj
    else:
        raise ModelError(f"{path.name}: unsupported checkpoint type (use .safetensors, or .pt saved as plain tensors)")
    state = _strip_student(tensors)
    if not state:
        raise ModelError(f"{path.name} holds no student weights")
    return state, meta


def load_student_into(model, path: Path, state: dict[str, Any] | None = None):
    """Load a checkpoint's student weights into ``model`` (strict); a mismatch is a ModelError."""
    if state is None:
        state, _ = load_student_checkpoint(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{Path(path).name} does not match this model ({str(e).strip().splitlines()[0][:160]})") from None
    return model.eval()

