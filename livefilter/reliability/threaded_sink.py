"""A sink that never blocks the pipeline: a writer thread with a one-frame newest-wins slot."""

from __future__ import annotations

import logging
import threading

import numpy as np

from livefilter.protocols import Sink
from livefilter.types import CapturedFrame

log = logging.getLogger(__name__)


class ThreadedSink:
    """If the wrapped sink blocks (a stalled virtual camera consumer, a slow RTMP link), frames are
    dropped here rather than queued, so the pipeline's latency stays bounded.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._cond = threading.Condition()
        self._pending: tuple[int, CapturedFrame] | None = None
        self._bufs: list[np.ndarray] = []
        self._in_use = -1  # buffer the sink thread is writing
        self._stop = False
        self.dropped = 0
        self.written = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="livefilter-sink", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return bool(self.sink.closed)

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        if self.error is not None:
            raise self.error
        # Three buffers: one being written by the sink, one pending, one free to fill.
        with self._cond:
            if len(self._bufs) < 3 or self._bufs[0].shape != image.shape:
                self._bufs = [np.empty_like(image) for _ in range(3)]
                self._in_use = -1 if self._in_use < 0 else self._in_use
            busy = {self._in_use, self._pending[0] if self._pending else -1}
            free = next(i for i in range(3) if i not in busy)
            np.copyto(self._bufs[free], image)
            if self._pending is not None:
                self.dropped += 1
            self._pending = (free, frame)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._pending is None and self._stop:
                    return
                (index, frame), self._pending = self._pending, None
                self._in_use = index
                image = self._bufs[index]
            try:
                self.sink.write(image, frame)
                self.written += 1
            except BaseException as e:  # surfaced on the next write from the pipeline thread
                self.error = e
                return
            finally:
                with self._cond:
                    self._in_use = -1

    def close(self, timeout: float = 1.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout)
        self.sink.close()
        if self.error is not None:
            raise self.error
