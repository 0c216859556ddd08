"""Frame sources: camera, file, stream URL, screen (the kinds of ``registry.py``). All decode with PyAV,
files optionally with NVDEC (``decoders.py``)."""

from livefilter.sources.registry import parse_input
from livefilter.sources.spec import InputSpec
from livefilter.sources.pyav_source import PyAVSource, open_source

__all__ = ["InputSpec", "PyAVSource", "open_source", "parse_input"]
