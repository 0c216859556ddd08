"""``--output`` string -> sink."""

from __future__ import annotations

from livefilter.errors import SettingError
from livefilter.types import SourceInfo

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".flv")
VCAM_OUTPUTS = ("virtualcam", "obs", "vcam")


def output_kind(output: str) -> str:
    """``virtualcam``, ``null``, ``preview``, ``stream`` or ``file`` for an ``--output`` string (checked
    before anything is opened)."""
    low = output.strip().lower()
    if low in VCAM_OUTPUTS:
        return "virtualcam"
    if low in ("null", "preview"):
        return low
    if low.startswith(("rtmp://", "rtmps://")):
        return "stream"
    if low.endswith(VIDEO_SUFFIXES):
        return "file"
    raise SettingError(
        f"unknown --output {output!r}: use virtualcam, obs, a file (.mp4/.mkv/.mov), an rtmp:// URL, preview or null"
    )


def open_sink(output: str, info: SourceInfo, *, overwrite: bool = False, stats=None, vcam_backend: str | None = None,
              vcam_device: str | None = None, pixel_format: str | None = None, on_key=None,
              inputs: tuple[str, ...] = ()):
    out = output.strip()
    low = out.lower()
    kind = output_kind(out)
    if kind == "virtualcam":
        from livefilter.sinks.virtualcam_sink import VirtualCamSink

        backend = "obs" if low == "obs" else vcam_backend
        return VirtualCamSink(info, backend=backend, device=vcam_device, pixel_format=pixel_format)
    if kind == "null":
        from livefilter.sinks.null_sink import NullSink

        return NullSink()
    if kind == "preview":
        from livefilter.sinks.preview_sink import PreviewSink

        return PreviewSink(stats=stats, on_key=on_key)
    from livefilter.sinks.file_sink import FileSink

    return FileSink(out, info, overwrite=overwrite, inputs=inputs)
