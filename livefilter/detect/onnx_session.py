"""onnxruntime sessions for the bundled face models (CPU; CUDA provider when present)."""

from __future__ import annotations

import os
from pathlib import Path

from livefilter.errors import ModelError
from livefilter.paths import PACKAGED_MODELS_DIR


def model_path(name: str) -> Path:
    path = PACKAGED_MODELS_DIR / name
    if not path.is_file():
        raise ModelError(f"bundled model {name} is missing from {PACKAGED_MODELS_DIR} (reinstall livefilter)")
    return path


def create_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or max(1, min((os.cpu_count() or 2) // 2, 4))  # stages overlap
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    try:
        return ort.InferenceSession(str(path), opts, providers=providers)
    except Exception as e:
        raise ModelError(f"cannot load {path.name}: {str(e).splitlines()[0]}") from None
