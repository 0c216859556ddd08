"""The outputs that ship with livefilter, in matching (and help) order (``registry.py`` registers them)."""

from __future__ import annotations

from livefilter.sinks.sink_spec import SinkOptions, SinkSpec

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".flv")
VCAM_OUTPUTS = ("virtualcam", "obs", "vcam")
STREAM_SCHEMES = ("rtmp://", "rtmps://")


def _virtualcam(output: str, o: SinkOptions):
    from livefilter.sinks.virtualcam_sink import VirtualCamSink

    backend = "obs" if output.lower() == "obs" else o.vcam_backend
    return VirtualCamSink(o.info, backend=backend, device=o.vcam_device, pixel_format=o.pixel_format)


def _vcam_format(output: str, pixel_format: str | None) -> str:
    from livefilter.sinks.virtualcam_sink import default_pixel_format

    return (pixel_format or default_pixel_format("obs" if output.strip().lower() == "obs" else None)).upper()


def _encoded(output: str, o: SinkOptions):
    from livefilter.sinks.file_sink import FileSink

    return FileSink(output, o.info, overwrite=o.overwrite, inputs=o.inputs)


def _preview(output: str, o: SinkOptions):
    from livefilter.sinks.preview_sink import PreviewSink

    return PreviewSink(stats=o.stats, on_key=o.on_key)


def _null(output: str, o: SinkOptions):
    from livefilter.sinks.null_sink import NullSink

    return NullSink()


BUILTIN_SINKS = (
    SinkSpec("virtualcam", lambda low: low in VCAM_OUTPUTS, _virtualcam, "virtualcam | obs",
             "virtualcam, obs", pixel_format=_vcam_format),
    # a file is written as fast as it goes (no frame is dropped, there is no delay to match)
    SinkSpec("file", lambda low: low.endswith(VIDEO_SUFFIXES) and not low.startswith(STREAM_SCHEMES),
             _encoded, "FILE.mp4", "a file (.mp4/.mkv/.mov)", live=False, path_target=True),
    SinkSpec("stream", lambda low: low.startswith(STREAM_SCHEMES), _encoded, "rtmp://URL",
             "an rtmp:// URL"),
    SinkSpec("preview", lambda low: low == "preview", _preview, "preview", "preview", hotkeys=True),
    SinkSpec("null", lambda low: low == "null", _null, "null", "null"),
)
