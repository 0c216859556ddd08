"""Turn the ``--input`` string into what PyAV needs to open it, per operating system."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field

from livefilter.errors import InputError, SettingError


@dataclass
class InputSpec:
    kind: str  # a kind of ``sources/registry.py``: "camera" | "file" | "url" | "screen" ...
    target: str  # what av.open receives
    format: str | None = None  # PyAV/FFmpeg input format (v4l2, avfoundation, dshow, x11grab ...)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_live(self) -> bool:
        """Paced by the world (a camera, a stream), not read at its own pace like a file."""
        from livefilter.sources import registry

        kind = registry.get(self.kind)
        return kind is None or kind.live  # a kind nobody registered: treated as live (newest frame kept)


def parse_size(size: str | None) -> tuple[int, int] | None:
    """'1280x720' -> (1280, 720)."""
    if size is None:
        return None
    m = re.fullmatch(r"\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*", size)
    if not m:
        raise SettingError(f"--size must look like 1280x720, got {size!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise SettingError(f"--size {w}x{h} is out of range (16..8192 per side)")
    if w % 2 or h % 2:
        raise SettingError(f"--size {w}x{h}: width and height must be even (video encoders need it)")
    return w, h


def parse_input(
    value: str,
    *,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    system: str | None = None,
) -> InputSpec:
    """Classify an input (camera index / device path, file, stream URL, ``screen`` ... : the kinds of
    ``sources/registry.py``) into what PyAV opens; a capture device is asked for ``size`` and ``fps``."""
    from livefilter.sources import registry

    system = system or platform.system()
    value = value.strip()
    if not value:
        raise InputError("--input is empty")
    kind = registry.spec_for(value)
    spec = kind.parse(value, system)
    if kind.captures:
        if size:
            spec.options["video_size"] = f"{size[0]}x{size[1]}"
        if fps:
            spec.options["framerate"] = f"{fps:g}"
    return spec
