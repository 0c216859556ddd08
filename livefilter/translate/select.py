"""Pick a translator backend: TensorRT FP16 -> torch CUDA FP16 -> onnxruntime CUDA -> onnxruntime CPU."""

from __future__ import annotations

import logging
from typing import Callable

from livefilter.errors import BackendUnavailable, LivefilterError, SettingError
from livefilter.looks.pack import Look
from livefilter.protocols import Translator

log = logging.getLogger(__name__)

AUTO_ORDER = ("tensorrt", "torch-cuda", "onnxruntime-cuda", "onnxruntime-cpu")
# torch-cpu: the device pipeline run on the CPU device (never picked by auto; for checking that
# path, and its stage costs, on a machine without a GPU)
BACKENDS = ("auto",) + AUTO_ORDER + ("torch-cpu",)


def _tensorrt(look: Look, max_faces: int, precision: str) -> Translator:
    from livefilter.translate.tensorrt_backend import TensorRTTranslator

    return TensorRTTranslator(look, max_faces=max_faces, precision=precision)


def _torch_cuda(look: Look, max_faces: int, precision: str) -> Translator:
    from livefilter.translate.torch_backend import TorchCudaTranslator

    return TorchCudaTranslator(look, max_faces=max_faces, precision=precision)


def _torch_cpu(look: Look, max_faces: int, precision: str) -> Translator:
    from livefilter.translate.torch_backend import TorchCudaTranslator

    return TorchCudaTranslator(look, max_faces=max_faces, precision="fp32", device="cpu")


def _ort(device: str) -> Callable[[Look, int, str], Translator]:
    def make(look: Look, max_faces: int, precision: str) -> Translator:
        from livefilter.engines.cache import EngineCache
        from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator

        return OnnxRuntimeTranslator(look, device=device, max_batch=max_faces, cache=EngineCache())

    return make


FACTORIES: dict[str, Callable[[Look, int, str], Translator]] = {
    "tensorrt": _tensorrt,
    "torch-cuda": _torch_cuda,
    "onnxruntime-cuda": _ort("cuda"),
    "onnxruntime-cpu": _ort("cpu"),
    "torch-cpu": _torch_cpu,
}


def backend_report() -> list[tuple[str, bool, str]]:
    """(backend, usable here, why / what) for every backend in auto order, without building anything.

    The probes are cheap (imports, provider lists, ``nvidia-smi``); a backend reported usable can
    still fail for a particular look (e.g. an op TensorRT lacks), which ``create_translator`` logs.
    """
    from livefilter.doctor import backend_checks

    by_name = {c.name: (c.ok, c.detail) for c in backend_checks()}
    return [(name, *by_name.get(name, (False, "not checked"))) for name in AUTO_ORDER]


def create_translator(look: Look, backend: str = "auto", max_faces: int = 4, precision: str = "fp16") -> Translator:
    """The first backend that works here (auto), or exactly the one asked for."""
    if backend not in BACKENDS:
        raise SettingError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    if precision not in ("fp16", "fp32"):
        raise SettingError(f"precision must be fp16 or fp32, got {precision!r}")
    if backend != "auto":
        try:
            return FACTORIES[backend](look, max_faces, precision)
        except ImportError as e:
            raise BackendUnavailable(f"{backend}: not installed ({e.name}) — pip install 'livefilter[gpu]'") from None
    skipped: list[str] = []
    for name in AUTO_ORDER:
        try:
            translator = FACTORIES[name](look, max_faces, precision)
        except (BackendUnavailable, ImportError) as e:
            log.info("%s: %s", name, e)
            reason = _first_line(e)
            skipped.append(reason if reason.startswith(f"{name}:") else f"{name}: {reason}")
            continue
        except LivefilterError as e:  # usable backend that failed for this look: say so once
            log.warning("%s failed for look '%s' (%s); trying the next backend", name, look.name, e)
            skipped.append(f"{name}: failed ({_first_line(e)})")
            continue
        except Exception as e:  # e.g. CUDA out of memory at start-up: never fatal while a CPU path exists
            log.warning("%s failed for look '%s' (%s: %s); trying the next backend", name, look.name,
                        type(e).__name__, _first_line(e))
            skipped.append(f"{name}: failed ({type(e).__name__}: {_first_line(e)})")
            continue
        log.info("translator for look '%s': %s (auto%s)", look.name, translator.name,
                 "; skipped " + "; ".join(skipped) if skipped else ", the first choice")
        return translator
    raise BackendUnavailable("no translator backend could run this look (" + "; ".join(skipped) + ")")


def _first_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__
