"""The decoders ``--decode`` chooses from, in ``auto`` order: NVDEC (frames stay on the GPU), then the
input kind's own CPU decoder (PyAV for the built-in kinds).

Each :class:`Decoder` says why it cannot decode an input here (or None) and opens it;
:func:`choose_decode` takes the one asked for, or the first that can under ``auto``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from livefilter.errors import SettingError

if TYPE_CHECKING:
    from livefilter.protocols import Source
    from livefilter.sources.spec import InputSpec

log = logging.getLogger(__name__)

AUTO = "auto"
Scale = Optional[tuple[int, int]]  # the size the decoder resizes to (file and URL inputs), or None


@dataclass(frozen=True)
class Decoder:
    name: str
    # (input, the pipeline's torch device type or None, scale) -> why it cannot decode it here, or None
    unusable: Callable[[InputSpec, Optional[str], Scale], Optional[str]]
    open: Callable[[InputSpec, Scale, bool], Source]  # (input, scale, loop a file) -> source


def _nvdec_unusable(spec: InputSpec, pipeline_device: str | None, scale: Scale) -> str | None:
    if spec.is_live:
        return f"{spec.kind} input is live (PyAV keeps the newest frame)"
    if pipeline_device != "cuda":
        return "the pipeline does not run on a CUDA device"
    if scale is not None:
        return "--scale resizes on the CPU decoder"
    import importlib.util

    if importlib.util.find_spec("torchcodec") is None:
        return "torchcodec is not installed (pip install 'livefilter[nvdec]')"
    return None


def _nvdec(spec: InputSpec, scale: Scale, loop: bool) -> Source:
    from livefilter.sources.device_source import open_decode_source

    return open_decode_source(spec, loop=loop)


def _cpu(spec: InputSpec, scale: Scale, loop: bool) -> Source:
    from livefilter.sources import registry

    kind = registry.get(spec.kind)
    if kind is None:
        raise SettingError(f"no input kind {spec.kind!r} is registered")
    return kind.open(spec, scale, loop)


DECODERS: dict[str, Decoder] = {d.name: d for d in (
    Decoder("nvdec", _nvdec_unusable, _nvdec),  # torchcodec on the GPU: frames never touch host memory
    Decoder("cpu", lambda spec, device, scale: None, _cpu),  # always possible
)}
DECODE_MODES = (AUTO, "cpu", "nvdec")


def choose_decode(mode: str, spec: InputSpec, pipeline_device: str | None, scale: Scale) -> str:
    """The decoder for this input: ``mode`` itself if it can work (else a one-line error saying why),
    or under ``auto`` the first of :data:`DECODERS` that can (NVDEC needs a file or seekable URL, a
    CUDA device pipeline, no ``--scale``, and torchcodec)."""
    if mode not in DECODE_MODES:
        raise SettingError(f"--decode must be one of {', '.join(DECODE_MODES)}, got {mode!r}")
    if mode != AUTO:
        why = DECODERS[mode].unusable(spec, pipeline_device, scale)
        if why is not None:
            raise SettingError(f"--decode {mode} is not possible: {why}")
        return mode
    for decoder in DECODERS.values():
        why = decoder.unusable(spec, pipeline_device, scale)
        if why is None:
            return decoder.name
        log.info("not decoding with %s: %s", decoder.name, why)
    raise SettingError(f"no decoder can read {spec.target}")
