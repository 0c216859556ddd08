"""Hand-off between the capture thread and the pipeline.

Live sources keep only the newest frame: a live feed must never queue up latency, so an unread
frame is overwritten (and counted as dropped). File sources block instead, so every frame of a file
is processed at the file's own pace.
"""

from __future__ import annotations

import threading
from collections import deque

from livefilter.types import CapturedFrame

_END = object()


class FrameSlot:
    def __init__(self, keep_latest: bool, capacity: int = 4) -> None:
        self.keep_latest = keep_latest
        self._items: deque = deque()
        self._capacity = 1 if keep_latest else capacity
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.error: BaseException | None = None

    def put(self, frame: CapturedFrame) -> bool:
        """Offer a frame; returns False when the consumer has gone away."""
        with self._cond:
            if self.keep_latest:
                if self._items:
                    self._items.clear()
                    self.dropped += 1
            else:
                while len(self._items) >= self._capacity and not self._closed:
                    self._cond.wait(0.1)
            if self._closed:
                return False
            self._items.append(frame)
            self._cond.notify_all()
            return True

    def finish(self, error: BaseException | None = None) -> None:
        """The producer is done (end of stream or failure)."""
        with self._cond:
            self.error = error
            self._items.append(_END)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
        """Next frame; None at end of stream. Raises TimeoutError if nothing arrives in time."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                raise TimeoutError("no frame from the source")
            if self._closed and not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            if item is _END:
                self._items.appendleft(_END)  # stay at end for further reads
                return None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
