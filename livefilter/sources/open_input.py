"""``open_input``: the ``--input`` a run reads, parsed, decoded where it should be, and kept alive.

A live input (camera, stream, screen) that is lost keeps sending its last frame, badged, while it
is reopened with back-off (``reliability/reconnect.py``); a file is read at its own pace (looped
with ``loop``).
"""

from __future__ import annotations

from livefilter.protocols import Source
from livefilter.reliability.reconnect import ReconnectingSource
from livefilter.sources import registry
from livefilter.sources.decoders import DECODERS, choose_decode
from livefilter.sources.registry import parse_input
from livefilter.sources.spec import InputSpec


def decoder_scale(spec: InputSpec, size: tuple[int, int] | None) -> tuple[int, int] | None:
    """The size a decoder resizes to: ``--size`` for an input that is not a capture device (a
    capture device is asked for the size itself, see ``parse_input``)."""
    kind = registry.get(spec.kind)
    return size if kind is not None and not kind.captures else None


def open_input(input: str | InputSpec, *, size: tuple[int, int] | None = None, fps: float | None = None,
               decode: str = "auto", pipeline_device: str | None = None, loop: bool = False) -> Source:
    """Open ``input`` (an ``--input`` string, or a spec parsed before) as ``run`` reads it.

    ``decode`` and ``pipeline_device`` (the torch device type the pixel stages run on, None for the
    host pipeline) choose the decoder (``sources/decoders.py``); ``size`` and ``fps`` are asked of
    a capture device, and ``size`` is what a file or stream is scaled to.
    """
    spec = input if isinstance(input, InputSpec) else parse_input(input, size=size, fps=fps)
    scale = decoder_scale(spec, size)
    decoder = DECODERS[choose_decode(decode, spec, pipeline_device, scale)]
    if spec.is_live:
        return ReconnectingSource(lambda: decoder.open(spec, scale, False))
    return decoder.open(spec, scale, loop)
