"""``--output`` string -> sink."""

from __future__ import annotations

from livefilter.errors import SettingError
from livefilter.types import SourceInfo

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".flv")


def open_sink(output: str, info: SourceInfo, *, overwrite: bool = False, stats=None, vcam_backend: str | None = None,
              vcam_device: str | None = None, pixel_format: str | None = None, on_key=None):
    out = output.strip()
    low = out.lower()
    if low in ("virtualcam", "obs", "vcam"):
        from livefilter.sinks.virtualcam_sink import VirtualCamSink

        backend = "obs" if low == "obs" else vcam_backend
        return VirtualCamSink(info, backend=backend, device=vcam_device, pixel_format=pixel_format)
    if low == "null":
        from livefilter.sinks.null_sink import NullSink

        return NullSink()
    if low == "preview":
        from livefilter.sinks.preview_sink import PreviewSink

        return PreviewSink(stats=stats, on_key=on_key)
    if low.startswith(("rtmp://", "rtmps://")) or low.endswith(VIDEO_SUFFIXES):
        from livefilter.sinks.file_sink import FileSink

        return FileSink(out, info, overwrite=overwrite)
    raise SettingError(
        f"unknown --output {output!r}: use virtualcam, obs, a file (.mp4/.mkv/.mov), an rtmp:// URL, preview or null"
    )
