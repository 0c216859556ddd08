"""``livefilter run``: every option checked up front, before anything is loaded or opened, whatever the
output (a mistake in an option that this output does not use is still a mistake)."""

from __future__ import annotations

import logging
import math
import platform
import re
from dataclasses import dataclass

from livefilter.settings.choices import TRANSLATE_BUDGET_MS
from livefilter.errors import SettingError
from livefilter.sinks.pixel_format import FORMATS
from livefilter.sinks.registry import SinkSpec, spec_for
from livefilter.types import SourceInfo

log = logging.getLogger(__name__)

_LINUX_VCAM = re.compile(r"^/dev/video\d{1,3}$")


@dataclass(frozen=True)
class RunLimits:
    """When a run stops: a frame count, and/or wall-clock seconds (live inputs)."""

    max_frames: int | None
    wall_seconds: float | None


def _finite(name: str, value: float | None, lo: float, hi: float) -> None:
    if value is not None and (not math.isfinite(value) or not lo <= value <= hi):
        raise SettingError(f"{name} must be between {lo:g} and {hi:g}, got {value}")


def check_vcam_device(device: str | None, system: str | None = None) -> None:
    if device is None:
        return
    system = system or platform.system()
    if system == "Linux":
        if not _LINUX_VCAM.match(device):
            raise SettingError(f"--vcam-device must be a v4l2loopback device like /dev/video10, got {device!r}")
    elif not device.strip() or len(device) > 128 or not device.isprintable():
        raise SettingError(f"--vcam-device must be a virtual camera name (1-128 printable characters), got {device!r}")


def check_run_options(
    *,
    output: str,
    fps: float | None,
    duration: float | None,
    max_frames: int | None,
    pixel_format: str | None,
    budget_ms: float,
    vcam_device: str | None,
    control_port: int | None,
) -> SinkSpec:
    """Validate the options ``run`` handles itself; returns the output's registered kind
    (``sinks/registry.py``)."""
    _finite("--fps", fps, 1, 240)
    if duration is not None and (not math.isfinite(duration) or duration <= 0):
        raise SettingError(f"--duration must be a positive number of seconds, got {duration}")
    if max_frames is not None and max_frames < 1:
        raise SettingError(f"--max-frames must be at least 1, got {max_frames}")
    if pixel_format is not None and pixel_format.upper() not in FORMATS:
        raise SettingError(f"--pixel-format must be one of {', '.join(FORMATS)}, got {pixel_format!r}")
    _finite("--budget-ms", budget_ms, *TRANSLATE_BUDGET_MS)
    check_vcam_device(vcam_device)
    if control_port is not None and not 0 <= control_port <= 65535:
        raise SettingError(f"--control-port must be 0..65535 (0: any free port), got {control_port}")
    spec = spec_for(output)
    if spec.pixel_format is None:
        for name, value in (("--vcam-device", vcam_device), ("--pixel-format", pixel_format)):
            if value is not None:
                log.warning("%s is only used with a virtual camera output; ignored for %s", name, output)
    return spec


def run_limits(max_frames: int | None, duration: float | None, info: SourceInfo) -> RunLimits:
    """``--duration`` counts media time for a file input (that many seconds of the file, however fast
    it is processed) and wall-clock time for a live input (camera, stream, screen)."""
    if duration is None or info.is_live:
        return RunLimits(max_frames, duration)
    frames = max(1, round(duration * info.fps))
    return RunLimits(frames if max_frames is None else min(frames, max_frames), None)
