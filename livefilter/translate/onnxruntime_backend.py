"""onnxruntime translator (CPU, or CUDA when onnxruntime-gpu is installed)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from livefilter.engines.cache import CacheKey, EngineCache, warn_once
from livefilter.engines.device_info import cpu_device, cuda_device
from livefilter.errors import BackendUnavailable, ModelError
from livefilter.infra.onnx_session import create_session
from livefilter.looks.pack import Look, sha256_file
from livefilter.translate.codec import CropCodec

log = logging.getLogger(__name__)


def ort_providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise BackendUnavailable(
                "onnxruntime-cuda: CUDAExecutionProvider not available (pip install onnxruntime-gpu)"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def ort_cache_key(look: Look, device: str, max_batch: int) -> CacheKey:
    import onnxruntime as ort

    dev = (cuda_device() if device == "cuda" else None) or cpu_device()
    return CacheKey(
        onnx_sha256=look.onnx_sha256 or sha256_file(look.model_path), backend=f"onnxruntime-{device}",
        device=dev.name, compute_capability=dev.compute_capability, driver=dev.driver,
        library_version=ort.__version__, precision="fp32", max_batch=max_batch, input_size=look.input_size,
    )


class OnnxRuntimeTranslator:
    """Runs every face of a frame as one batch through an onnxruntime session."""

    def __init__(
        self,
        look: Look,
        device: str = "cpu",
        threads: int | None = None,
        max_batch: int = 8,
        cache: EngineCache | None = None,
    ) -> None:
        self.look = look
        self.input_size = look.input_size
        self.name = f"onnxruntime-{device}"
        providers = ort_providers(device)
        self.cache_hit = False
        self.session = self._cached_session(look, cache, ort_cache_key(look, device, max_batch) if cache else None,
                                            threads, providers)
        self._image = look.input_names["image"]
        self._style = look.input_names.get("style")
        self._strength = look.input_names.get("strength")
        outputs = [o.name for o in self.session.get_outputs()]
        self._output = look.output_name or outputs[0]
        self._codec = CropCodec(look.input_size, look.normalisation, max_batch)
        self._style_buf = np.zeros((max_batch, len(look.style_code or [0])), dtype=np.float32)
        self._strength_buf = np.zeros((max_batch, 1), dtype=np.float32)
        strength_input = next((i for i in self.session.get_inputs() if i.name == self._strength), None)
        self._strength_rank = len(strength_input.shape) if strength_input is not None else 2

    def _cached_session(self, look: Look, cache: EngineCache | None, key: CacheKey | None, threads, providers):
        """A session from the cached optimised graph when there is a good one; otherwise from the look's
        ONNX, saving the optimised graph for next time. The cache is only an optimisation: any problem
        with it is warned about once and the look runs uncached."""
        def load(model: str, optimized_to: Path | None = None):
            return create_session(model, threads, providers, optimized_to=optimized_to)

        if cache is not None and key is not None:
            hit = cache.lookup(key, suffix=".ort.onnx")
            if hit is not None:
                try:
                    session = load(str(hit))
                    self.cache_hit = True
                    return session
                except Exception as e:  # a consistent but broken entry: drop it, build afresh
                    warn_once("broken", "cached graph %s cannot be loaded (%s); rebuilding", hit.name,
                              str(e).splitlines()[0] if str(e) else type(e).__name__)
                    cache.invalidate(key, ".ort.onnx")
        staging = cache.staging_path(key, ".ort.onnx") if cache is not None and key is not None else None
        t0 = time.perf_counter()
        try:
            if staging is not None:
                try:
                    session = load(str(look.model_path), staging)
                except Exception as e:  # maybe only the optimised graph could not be written (disk full)
                    staging.unlink(missing_ok=True)
                    session = load(str(look.model_path))
                    warn_once("write", "cannot save the optimised graph (%s); running uncached",
                              str(e).splitlines()[0] if str(e) else type(e).__name__)
                    return session
                if staging.is_file() and staging.stat().st_size > 0:
                    cache.store(key, staging, time.perf_counter() - t0, suffix=".ort.onnx")
                return session
            return load(str(look.model_path))
        except ModelError as e:
            raise ModelError(f"look '{look.name}': onnxruntime {e}") from None
        finally:
            if staging is not None:
                staging.unlink(missing_ok=True)  # stored (moved away) or not: never left behind

    def feeds(self, x: np.ndarray, style: np.ndarray | None, strength: np.ndarray) -> dict[str, np.ndarray]:
        n = len(x)
        feeds = {self._image: x}
        if self._style:
            code = style if style is not None else np.asarray(self.look.style_code or [], np.float32)
            if len(self._style_buf) < n or self._style_buf.shape[1] != code.shape[-1]:
                self._style_buf = np.zeros((max(n, len(self._style_buf)), code.shape[-1]), np.float32)
            self._style_buf[:n] = code
            feeds[self._style] = self._style_buf[:n]
        if self._strength:
            if len(self._strength_buf) < n:
                self._strength_buf = np.zeros((n, 1), np.float32)
            self._strength_buf[:n, 0] = strength
            s = self._strength_buf[:n]
            feeds[self._strength] = s if self._strength_rank == 2 else s[:, 0]
        return feeds

    @property
    def strength_in_network(self) -> bool:
        """True when the generator itself interpolates between no look and the look."""
        return self._strength is not None

    def __call__(self, crops: np.ndarray, style: np.ndarray | None, strength: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return crops
        x = self._codec.encode(crops)
        y = self.session.run([self._output], self.feeds(x, style, strength))[0]
        return self._codec.decode(y)
