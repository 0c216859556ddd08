"""Times each frame's write into the real output, for :class:`livefilter.infra.latency.OutputLatency`.

It wraps the innermost sink (inside :class:`~livefilter.reliability.ThreadedSink`), so the time
counted is capture -> the frame handed to the virtual camera, queueing in the writer thread included.
"""

from __future__ import annotations

import time

import numpy as np

from livefilter.infra.latency import OutputLatency
from livefilter.protocols import Sink
from livefilter.types import CapturedFrame


class LatencyProbeSink:
    def __init__(self, sink: Sink, latency: OutputLatency) -> None:
        self.sink = sink
        self.latency = latency

    @property
    def closed(self) -> bool:
        return bool(self.sink.closed)

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        self.sink.write(image, frame)
        self.latency.add(frame.captured_at, time.perf_counter())

    def close(self) -> None:
        self.sink.close()

    def __getattr__(self, name: str):
        # Everything else (device, dropped, is_stream …) is the wrapped sink's.
        return getattr(self.sink, name)
