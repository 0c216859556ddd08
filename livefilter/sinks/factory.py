"""``--output`` string -> sink, through the output registry (``sinks/registry.py``)."""

from __future__ import annotations

from livefilter.sinks.registry import SinkOptions, spec_for
from livefilter.types import SourceInfo


def output_kind(output: str) -> str:
    """The registered kind (``virtualcam``, ``file``, ``stream``, ``preview``, ``null`` ...) of an
    ``--output`` string, checked before anything is opened."""
    return spec_for(output).kind


def open_sink(output: str, info: SourceInfo, *, overwrite: bool = False, stats=None, vcam_backend: str | None = None,
              vcam_device: str | None = None, pixel_format: str | None = None, on_key=None,
              inputs: tuple[str, ...] = ()):
    """The sink ``output`` names, opened (no threaded wrap: see ``sinks/output.py`` ``open_output``)."""
    options = SinkOptions(info, overwrite=overwrite, stats=stats, vcam_backend=vcam_backend, vcam_device=vcam_device,
                          pixel_format=pixel_format, on_key=on_key, inputs=inputs)
    return spec_for(output).open(output.strip(), options)
