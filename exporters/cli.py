"""Shared implementation of `livefilter export` (build/refresh/list per-machine engine artefacts)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from livefilter.engines.cache import EngineCache
from livefilter.errors import BackendUnavailable, LivefilterError
from livefilter.looks.pack import Look

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    look: str
    backend: str
    status: str  # built | cached | unavailable | failed
    detail: str
    seconds: float


def export_look(look: Look, backend: str, *, max_faces: int, precision: str, rebuild: bool,
                cache: EngineCache, progress=None) -> ExportResult:
    """Build (or confirm) the artefact ``backend`` needs for ``look`` on this machine."""
    t0 = time.perf_counter()
    try:
        if backend == "tensorrt":
            from livefilter.engines.tensorrt_build import BuildSettings, build_engine, import_tensorrt, tensorrt_key

            trt = import_tensorrt()
            settings = BuildSettings(max_faces=max_faces, precision=precision)
            key = tensorrt_key(look, settings, trt.__version__)
            had = cache.lookup(key) is not None and not rebuild
            if rebuild:
                for p in cache.root.glob(f"tensorrt-{key.onnx_sha256[:12]}-{key.digest()}.*"):
                    p.unlink()
            path = build_engine(look, settings, cache, progress)
        elif backend in ("onnxruntime-cpu", "onnxruntime-cuda"):
            from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator, ort_cache_key

            device = backend.split("-")[1]
            key = ort_cache_key(look, device, max_faces)
            if rebuild:
                for p in cache.root.glob(f"{key.backend}-{key.onnx_sha256[:12]}-{key.digest()}.*"):
                    p.unlink()
            t = OnnxRuntimeTranslator(look, device=device, max_batch=max_faces, cache=cache)
            had = t.cache_hit
            path = cache.lookup(key, suffix=".ort.onnx")
        elif backend == "torch-cuda":
            from livefilter.translate.torch_backend import TorchCudaTranslator

            TorchCudaTranslator(look, max_faces=max_faces, precision=precision)
            return ExportResult(look.name, backend, "built", "graph built in memory (CUDA graphs are per process)",
                                time.perf_counter() - t0)
        else:
            raise LivefilterError(f"unknown backend {backend!r}")
    except BackendUnavailable as e:
        return ExportResult(look.name, backend, "unavailable", str(e), time.perf_counter() - t0)
    except LivefilterError as e:
        return ExportResult(look.name, backend, "failed", str(e), time.perf_counter() - t0)
    return ExportResult(look.name, backend, "cached" if had else "built", str(path), time.perf_counter() - t0)
