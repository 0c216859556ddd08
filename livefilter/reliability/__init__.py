"""Wrappers that keep the output alive whatever the camera, the sink or a stage does."""

from livefilter.reliability.reconnect import ReconnectingSource
from livefilter.reliability.threaded_sink import ThreadedSink

__all__ = ["ReconnectingSource", "ThreadedSink"]
