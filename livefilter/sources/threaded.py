"""The capture thread every decoding source shares: frames into a slot, failures to the reader.

A subclass opens its input, sets ``spec`` and ``info``, calls :meth:`ThreadedSource._start`, and
supplies one pass over its frames (``_pass``), how to go back to the start (``_rewind``, for
``--loop``), what a failure means to the user (``_failure``) and how to release the input
(``_close_input``). The reader gets frames in order, ``None`` at the end, or the failure as an
:class:`~livefilter.errors.InputError` once the frames decoded before it have been read.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

from livefilter.errors import InputError
from livefilter.sources.frame_slot import FrameSlot
from livefilter.sources.spec import InputSpec
from livefilter.types import CapturedFrame, SourceInfo


class ThreadedSource:
    spec: InputSpec
    info: SourceInfo
    thread_name = "livefilter-capture"
    stalled = "source stalled"  # what a read timeout says happened

    def _start(self, keep_latest: bool, loop: bool, read_timeout: float) -> None:
        self._loop = loop
        self._read_timeout = read_timeout
        self._slot = FrameSlot(keep_latest=keep_latest)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    # -- for subclasses ------------------------------------------------------------------------------
    def _pass(self) -> Iterator[tuple[Any, float | None]]:
        """(image, pts seconds) of every frame, once through the input."""
        raise NotImplementedError

    def _rewind(self) -> None:
        """Back to the first frame (only called with ``loop``)."""

    def _failure(self, e: Exception) -> InputError:
        return InputError(f"{self.spec.target}: capture failed ({type(e).__name__}: {e})")

    def _close_input(self) -> None:
        """Release the decoder / container."""

    # -- the thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        index = 0
        error: BaseException | None = None
        try:
            while not self._stop.is_set():
                for image, pts in self._pass():
                    if self._stop.is_set():
                        return
                    captured = CapturedFrame(image=image, index=index, captured_at=time.perf_counter(), pts_seconds=pts)
                    index += 1
                    if not self._slot.put(captured):
                        return
                if not self._loop or index == 0:
                    break
                self._rewind()
        except InputError as e:
            error = e
        except Exception as e:  # the thread must always hand the failure to the reader
            error = self._failure(e)
        finally:
            if index == 0 and error is None and not self._stop.is_set():
                error = InputError(f"{self.spec.target}: no decodable video frames")
            self._slot.finish(error)

    # -- the reader ----------------------------------------------------------------------------------
    def read(self) -> CapturedFrame | None:
        try:
            frame = self._slot.get(timeout=self._read_timeout)
        except TimeoutError:
            raise InputError(f"{self.spec.target}: no frame for {self._read_timeout:.0f} s ({self.stalled})") from None
        if frame is None and self._slot.error is not None:
            raise self._slot.error
        return frame

    def close(self) -> None:
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout=2.0)
        try:
            self._close_input()
        except Exception:  # closing a failed input must not mask the real error
            pass
