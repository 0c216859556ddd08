"""Turn the ``--input`` string into what PyAV needs to open it, per operating system."""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from livefilter.errors import InputError, SettingError

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "srt://", "udp://", "tcp://")


@dataclass
class InputSpec:
    kind: str  # "camera" | "file" | "url" | "screen"
    target: str  # what av.open receives
    format: str | None = None  # PyAV/FFmpeg input format (v4l2, avfoundation, dshow, x11grab ...)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_live(self) -> bool:
        return self.kind != "file"


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


def _camera(index_or_path: str, system: str) -> InputSpec:
    if system == "Linux":
        dev = f"/dev/video{index_or_path}" if index_or_path.isdigit() else index_or_path
        return InputSpec("camera", dev, "v4l2")
    if system == "Darwin":
        return InputSpec("camera", f"{index_or_path}:none" if index_or_path.isdigit() else index_or_path, "avfoundation")
    if system == "Windows":
        name = index_or_path if index_or_path.startswith("video=") else f"video={index_or_path}"
        return InputSpec("camera", name, "dshow")
    raise InputError(f"cameras are not supported on {system}")


def _screen(system: str) -> InputSpec:
    if system == "Linux":
        import os

        return InputSpec("screen", os.environ.get("DISPLAY", ":0") + ".0", "x11grab")
    if system == "Darwin":
        return InputSpec("screen", "Capture screen 0:none", "avfoundation")
    if system == "Windows":
        return InputSpec("screen", "desktop", "gdigrab")
    raise InputError(f"screen capture is not supported on {system}")


def parse_input(
    value: str,
    *,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    system: str | None = None,
) -> InputSpec:
    """Classify an input: camera index / device path, file, stream URL or ``screen``."""
    system = system or platform.system()
    value = value.strip()
    if not value:
        raise InputError("--input is empty")
    if value.isdigit() or value.startswith("/dev/video") or value.startswith("video="):
        spec = _camera(value, system)
    elif value == "screen":
        spec = _screen(system)
    elif value.lower().startswith(STREAM_SCHEMES):
        spec = InputSpec("url", value)
        if value.lower().startswith("rtsp"):
            spec.options["rtsp_transport"] = "tcp"
        spec.options.setdefault("timeout", "5000000")  # microseconds: fail fast on a dead server
    else:
        try:
            path = Path(value).expanduser()
        except RuntimeError:  # "~user" for a user that does not exist
            raise InputError(f"input file not found: {value}") from None
        if not path.exists():
            raise InputError(f"input file not found: {value}")
        if path.is_dir():
            raise InputError(f"input is a directory, not a video: {value}")
        if path.stat().st_size == 0:
            raise InputError(f"input file is empty: {value}")
        spec = InputSpec("file", str(path))
    if spec.kind in ("camera", "screen"):
        if size:
            spec.options["video_size"] = f"{size[0]}x{size[1]}"
        if fps:
            spec.options["framerate"] = f"{fps:g}"
    return spec
