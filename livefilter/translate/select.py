"""Pick a translator backend: exactly the one asked for, or ``auto``'s order from the backend
registry (``translate/backends.py``): TensorRT FP16 -> torch CUDA FP16 -> onnxruntime CUDA -> CPU."""

from __future__ import annotations

import logging

from livefilter.errors import BackendUnavailable, LivefilterError, SettingError
from livefilter.looks.pack import Look
from livefilter.protocols import Translator
from livefilter.translate import backends

log = logging.getLogger(__name__)


def backend_report() -> list[tuple[str, bool, str]]:
    """(backend, usable here, why / what) for every backend in auto order, without building anything.

    The probes are cheap (imports, provider lists, ``nvidia-smi``); a backend reported usable can
    still fail for a particular look (e.g. an op TensorRT lacks), which ``create_translator`` logs.
    """
    report = []
    for name in backends.auto_order():
        spec = backends.get(name)
        report.append((name, *spec.probe()) if spec is not None and spec.probe is not None
                      else (name, False, "not checked"))
    return report


def create_translator(look: Look, backend: str = "auto", max_faces: int = 4, precision: str = "fp16") -> Translator:
    """The first backend that works here (auto), or exactly the one asked for."""
    spec = backends.get(backend)
    if spec is None and backend != backends.AUTO:
        raise SettingError(f"unknown backend {backend!r} (use {', '.join(backends.choices())})")
    if precision not in ("fp16", "fp32"):
        raise SettingError(f"precision must be fp16 or fp32, got {precision!r}")
    if spec is not None:
        try:
            return spec.factory(look, max_faces, precision)
        except ImportError as e:
            raise BackendUnavailable(f"{backend}: not installed ({e.name}) — pip install 'livefilter[gpu]'") from None
    skipped: list[str] = []
    for name in backends.auto_order():
        try:
            translator = backends.get(name).factory(look, max_faces, precision)
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
