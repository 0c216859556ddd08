"""The one registry of translator backends: what each is, where it runs, and how to check/build it.

Everything that used to know backends by name derives from here: ``translate/select.py`` (factories,
the ``auto`` order), ``session.pipeline_device`` (which pipeline), ``doctor`` (the probes),
``livefilter export`` (the build steps), ``livefilter bench`` (GPU or not) and the ``--backend`` help.

Add a backend with :func:`register_backend`, from code or from an installed package's
``livefilter.backends`` entry point (a callable, called once, that registers its specs).
"""

from __future__ import annotations

import logging
from typing import Callable

from livefilter.translate.backend_spec import (BackendSpec, ExportOutcome, ExportRequest, ExportStep, PipelineDevice,
                                               Probe, TranslatorFactory)
from livefilter.translate.builtin_backends import BUILTIN_BACKENDS
from livefilter.infra.registry import Registry

log = logging.getLogger(__name__)

AUTO = "auto"
ENTRY_POINT_GROUP = "livefilter.backends"


_plugins_loaded = False


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()()
        except Exception as e:  # a broken plugin never stops the built-in backends
            log.warning("backend plugin %s failed to load (%s: %s)", ep.name, type(e).__name__, e)


# by name, in registration order (the ``auto`` order); installed plugins register on first read
REGISTRY: Registry[BackendSpec] = Registry("backend", reserved=(AUTO,), forbidden=",|", before_read=_load_plugins)
register_backend = REGISTRY.register
specs = REGISTRY.specs
get = REGISTRY.find


names = REGISTRY.names


def choices() -> tuple[str, ...]:
    """What ``--backend`` accepts: auto, then every registered backend."""
    return (AUTO,) + names()


def auto_order() -> tuple[str, ...]:
    return tuple(s.name for s in specs() if s.in_auto)


def gpu_names() -> tuple[str, ...]:
    return tuple(s.name for s in specs() if s.needs_gpu)


def export_defaults() -> tuple[str, ...]:
    return tuple(s.name for s in specs() if s.export_by_default)


def exportable() -> tuple[str, ...]:
    return tuple(s.name for s in specs() if s.export is not None)


def help_text() -> str:
    """``auto | a | b (b's note) | ...; auto tries ...`` for the --backend option."""
    listed = " | ".join((AUTO,) + REGISTRY.help_items(lambda s: s.note))
    return f"{listed}; auto takes the first that works of {', '.join(auto_order())} (see `livefilter doctor`)."


def pipeline_device(backend: str, cuda_torch: Callable[[], bool]) -> PipelineDevice | None:
    """The torch device the pixel stages run on for ``backend``, or None (host pipeline).

    ``auto`` takes the device of the first backend in its order that has one (TensorRT: CUDA).
    """
    if backend == AUTO:
        candidates = [get(n) for n in auto_order()]
    else:
        candidates = [get(backend)]
    device = next((s.device for s in candidates if s is not None and s.device is not None), None)
    if device == "cuda" and not cuda_torch():
        return None
    return device


for _spec in BUILTIN_BACKENDS:
    register_backend(_spec)

__all__ = ["AUTO", "BackendSpec", "ExportOutcome", "ExportRequest", "ExportStep", "PipelineDevice", "Probe",
           "TranslatorFactory", "auto_order", "choices", "get", "names", "register_backend", "specs"]
