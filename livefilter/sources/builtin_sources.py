"""The inputs that ship with livefilter: camera, screen, stream URL, file (the fallback), per OS."""

from __future__ import annotations

import os
from pathlib import Path

from livefilter.errors import InputError
from livefilter.sources.source_kind import SourceSpec
from livefilter.sources.spec import InputSpec

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "srt://", "udp://", "tcp://")


def _is_camera(value: str) -> bool:
    return value.isdigit() or value.startswith("/dev/video") or value.startswith("video=")


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


def _screen(value: str, system: str) -> InputSpec:
    if system == "Linux":
        return InputSpec("screen", os.environ.get("DISPLAY", ":0") + ".0", "x11grab")
    if system == "Darwin":
        return InputSpec("screen", "Capture screen 0:none", "avfoundation")
    if system == "Windows":
        return InputSpec("screen", "desktop", "gdigrab")
    raise InputError(f"screen capture is not supported on {system}")


def _url(value: str, system: str) -> InputSpec:
    spec = InputSpec("url", value)
    if value.lower().startswith("rtsp"):
        spec.options["rtsp_transport"] = "tcp"
    spec.options.setdefault("timeout", "5000000")  # microseconds: fail fast on a dead server
    return spec


def _file(value: str, system: str) -> InputSpec:
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
    return InputSpec("file", str(path))


BUILTIN_SOURCES = (
    SourceSpec("camera", _camera, _is_camera, captures=True),
    SourceSpec("screen", _screen, lambda value: value == "screen", captures=True),
    SourceSpec("url", _url, lambda value: value.lower().startswith(STREAM_SCHEMES)),
    SourceSpec("file", _file, None, live=False),  # whatever no other kind claims: a path
)
