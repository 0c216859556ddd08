"""The one onnxruntime session factory: the bundled face models, the looks' translators, the style
encoder, the identity model and the exporters' checks all open their sessions here."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from livefilter.errors import ModelError
from livefilter.infra.paths import PACKAGED_MODELS_DIR

log = logging.getLogger(__name__)


def model_path(name: str) -> Path:
    """A bundled model file (``livefilter/models/NAME``); ModelError when the install lacks it."""
    path = PACKAGED_MODELS_DIR / name
    if not path.is_file():
        raise ModelError(f"bundled model {name} is missing from {PACKAGED_MODELS_DIR} (reinstall livefilter)")
    return path


def default_threads() -> int:
    """Intra-op threads per model: half the cores (the face stage runs beside the translator), 1..4."""
    return max(1, min((os.cpu_count() or 2) // 2, 4))


def create_session(path: Path | str | bytes, threads: int | None = None, providers: list[str] | None = None, *,
                   optimized_to: Path | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` with all graph optimisations, CUDA first when available.

    ``path`` is a model file or a serialized model held in memory (a model converted at load time);
    ``optimized_to``: also save the optimised graph there (the translator's cache). A model that cannot
    be loaded is a :class:`~livefilter.errors.ModelError` naming it, with onnxruntime's first line."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if optimized_to is not None:
        opts.optimized_model_filepath = str(optimized_to)
    available = ort.get_available_providers()
    if providers is None:
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    try:
        session = ort.InferenceSession(path if isinstance(path, bytes) else str(path), opts, providers=providers)
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own, unexported exception types
        raise ModelError(f"cannot load {_label(path)}: {(str(e).splitlines() or [type(e).__name__])[0]}") from None
    log.debug("loaded %s on %s", _label(path), session.get_providers()[0])
    return session


def _label(path: Path | bytes) -> str:
    return f"an in-memory model ({len(path)} bytes)" if isinstance(path, bytes) else Path(path).name


def dynamic_batch(session: Any) -> bool:
    """Whether the session's first input accepts any batch size (converted models: yes)."""
    dim0 = session.get_inputs()[0].shape[0]
    return not isinstance(dim0, int)
