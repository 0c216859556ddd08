"""Frame sinks: virtual camera, video file / RTMP, preview window, null."""

from livefilter.sinks.factory import open_sink

__all__ = ["open_sink"]
