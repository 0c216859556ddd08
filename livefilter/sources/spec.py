"""Turn the ``--input`` string into what PyAV needs to open it, per operating system."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from livefilter.errors import SettingError


@dataclass
class InputSpec:
    kind: str  # a kind of ``sources/registry.py``: "camera" | "file" | "url" | "screen" ...
    target: str  # what av.open receives
    format: str | None = None  # PyAV/FFmpeg input format (v4l2, avfoundation, dshow, x11grab ...)
    options: dict[str, str] = field(default_factory=dict)
    live: bool = True  # its kind's ``live`` (``parse_input`` sets it): paced by the world, not read at its own pace

    @property
    def is_live(self) -> bool:
        """Paced by the world (a camera, a stream), not read at its own pace like a file."""
        return self.live


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
