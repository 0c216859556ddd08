"""Camera loss: keep sending the last good frame with a "reconnecting" badge, retry with back-off."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import cv2
import numpy as np

from livefilter.errors import InputError
from livefilter.protocols import Source
from livefilter.types import CapturedFrame

log = logging.getLogger(__name__)


def draw_badge(image: np.ndarray, text: str = "reconnecting…") -> None:
    """A small red badge in the top-left corner, drawn in place."""
    h = max(18, image.shape[0] // 24)
    scale = h / 30.0
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    x0, y0 = 10, 10
    cv2.rectangle(image, (x0, y0), (x0 + tw + 16, y0 + th + 16), (200, 30, 30), -1)
    cv2.putText(image, text.replace("…", "..."), (x0 + 8, y0 + th + 8), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 2, cv2.LINE_AA)


class ReconnectingSource:
    """Wraps a live source factory. When the source fails, ``read`` keeps returning the last good
    frame (badged) at the source's frame rate while a background thread reopens it with exponential
    back-off. The output never stops and never goes black.
    """

    def __init__(
        self,
        open_source: Callable[[], Source],
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 8.0,
        give_up_after: float | None = None,
    ) -> None:
        self._open = open_source
        self._source: Source | None = open_source()
        self.info = self._source.info
        self._last: np.ndarray | None = None
        self._badged: np.ndarray | None = None
        self._lock = threading.Lock()
        self._reconnecting = threading.Event()
        self._closed = threading.Event()
        self._initial, self._max = initial_backoff, max_backoff
        self._give_up_after = give_up_after
        self._lost_at: float | None = None
        self._index = 0
        self.reconnects = 0
        self.badged_frames = 0

    @property
    def dropped(self) -> int:
        """The open source's count (0 while reconnecting: no source is open)."""
        src = self._source
        return src.dropped if src is not None else 0

    @property
    def decode_errors(self) -> int:
        src = self._source
        return src.decode_errors if src is not None else 0

    @property
    def reconnecting(self) -> bool:
        return self._reconnecting.is_set()

    def _reconnect_loop(self) -> None:
        delay = self._initial
        while not self._closed.is_set():
            if self._closed.wait(delay):
                return
            try:
                src = self._open()
            except InputError as e:
                log.info("camera still unavailable (%s); retrying in %.1f s", e, min(delay * 2, self._max))
                delay = min(delay * 2, self._max)
                continue
            with self._lock:
                self._source = src
            self.reconnects += 1
            self._reconnecting.clear()
            log.warning("camera reconnected")
            return

    def _lost(self, err: BaseException) -> None:
        with self._lock:
            old, self._source = self._source, None
        if old is not None:
            try:
                old.close()
            except Exception:  # the device is gone; closing may fail too
                pass
        if not self._reconnecting.is_set():
            log.warning("camera lost (%s); sending the last frame while reconnecting", err)
            self._lost_at = time.perf_counter()
            self._reconnecting.set()
            threading.Thread(target=self._reconnect_loop, name="livefilter-reconnect", daemon=True).start()

    def _hold_frame(self) -> CapturedFrame | None:
        if self._last is None:
            return None
        if self._give_up_after is not None and self._lost_at is not None:
            if time.perf_counter() - self._lost_at > self._give_up_after:
                raise InputError(f"camera did not come back within {self._give_up_after:.0f} s")
        time.sleep(1.0 / max(self.info.fps, 1.0))  # keep the output at the camera's rate
        if self._badged is None or self._badged.shape != self._last.shape:
            self._badged = np.empty_like(self._last)
        np.copyto(self._badged, self._last)
        draw_badge(self._badged)
        self.badged_frames += 1
        self._index += 1
        return CapturedFrame(self._badged, self._index, time.perf_counter())

    def read(self) -> CapturedFrame | None:
        if not self._reconnecting.is_set():
            with self._lock:
                src = self._source
            if src is not None:
                try:
                    frame = src.read()
                    if frame is None:
                        raise InputError("stream ended")
                except InputError as e:
                    self._lost(e)
                else:
                    if self._last is None or self._last.shape != frame.image.shape:
                        self._last = np.empty_like(frame.image)
                    np.copyto(self._last, frame.image)
                    self._index += 1
                    frame.index = self._index
                    return frame
        held = self._hold_frame()
        if held is None:
            raise InputError("camera lost before the first frame")
        return held

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            src, self._source = self._source, None
        if src is not None:
            src.close()
