"""The live preview thumbnail of the control panel.

The pipeline thread only hands over a reference to each finished output frame (``offer`` is a
plain attribute swap: no copy, no resize, no lock). The control server's thread, when a client asks,
resizes the newest frame to a small thumbnail and JPEG-encodes it, at most ``max_rate`` times a second;
clients asking more often get the cached JPEG.

A pipeline that hands out views of reused buffers (the device pipeline's pinned download buffers,
overwritten two frames later) sets ``copy_frames``: the tap then copies a frame into one of two
buffers of its own, at most ``max_rate`` times a second, and never while the encoder reads that
buffer (the pipeline thread skips the copy instead of waiting).
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from livefilter.sinks.pixel_format import PLANAR, to_rgb


class PreviewTap:
    def __init__(self, width: int = 320, max_rate: float = 5.0, quality: int = 75) -> None:
        if not 16 <= width <= 1920:
            raise ValueError(f"preview width must be 16..1920, got {width}")
        if not 0 < max_rate <= 60:
            raise ValueError(f"preview rate must be in (0, 60], got {max_rate}")
        self.width = width
        self.min_interval = 1.0 / max_rate
        self.quality = int(quality)
        self._latest: np.ndarray | None = None
        self.pixel_format = "RGB"  # what the pipeline outputs (I420 / NV12 from a device pipeline)
        self._seq = 0  # written by the pipeline thread only
        self._lock = threading.Lock()  # encoder side only (server threads)
        self._jpeg: bytes | None = None
        self._jpeg_seq = -1
        self._jpeg_at = 0.0
        self.encoded = 0
        self.copy_frames = False
        self._copies: list[np.ndarray | None] = [None, None]
        self._copy_locks = [threading.Lock(), threading.Lock()]
        self._next_copy = 0
        self._copied_at = -1e9

    # -- pipeline thread: a reference swap, nothing else ---------------------------------------------
    def offer(self, frame, image: np.ndarray) -> None:
        """``Pipeline.run(on_frame=...)`` hook: remember the newest output frame."""
        if self.copy_frames:
            self._offer_copy(image)
            return
        self._latest = image
        self._seq += 1

    def _offer_copy(self, image: np.ndarray) -> None:
        now = time.monotonic()
        if now - self._copied_at < self.min_interval:
            return  # nobody encodes faster than max_rate: keep the last copy
        k = self._next_copy
        lock = self._copy_locks[k]
        if not lock.acquire(blocking=False):
            return  # the encoder is reading this buffer: try again on the next frame
        try:
            buf = self._copies[k]
            if buf is None or buf.shape != image.shape or buf.dtype != image.dtype:
                buf = self._copies[k] = np.empty_like(image)  # once per resolution
            np.copyto(buf, image)
        finally:
            lock.release()
        self._next_copy = k ^ 1
        self._copied_at = now
        self._latest = buf
        self._seq += 1

    def push(self, image: np.ndarray) -> None:
        self._latest = image
        self._seq += 1

    @property
    def has_frame(self) -> bool:
        return self._latest is not None

    # -- server threads --------------------------------------------------------------------------------
    def jpeg(self) -> tuple[bytes, int] | None:
        """(JPEG bytes, frame sequence number) of the newest frame, or None before the first frame."""
        with self._lock:
            image, seq = self._latest, self._seq
            if image is None:
                return None
            now = time.monotonic()
            fresh = self._jpeg is not None and (seq == self._jpeg_seq or now - self._jpeg_at < self.min_interval)
            if not fresh:
                data = self._encode_guarded(image)
                if data is not None:
                    self._jpeg, self._jpeg_seq, self._jpeg_at = data, seq, now
                    self.encoded += 1
            if self._jpeg is None:
                return None
            return self._jpeg, self._jpeg_seq

    def _encode_guarded(self, image: np.ndarray) -> bytes | None:
        """Encode, holding the lock of the tap's own copy when ``image`` is one."""
        for buf, lock in zip(self._copies, self._copy_locks):
            if buf is image:
                with lock:
                    return self._encode(image)
        return self._encode(image)

    def _encode(self, image: np.ndarray) -> bytes | None:
        if isinstance(image, np.ndarray) and image.ndim == 2 and self.pixel_format in PLANAR:
            image = to_rgb(image, self.pixel_format)  # the device pipeline hands the sink I420 / NV12
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            return None
        h, w = image.shape[:2]
        if h < 1 or w < 1:
            return None
        tw = min(self.width, w)
        th = max(1, round(h * tw / w))
        small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA) if tw != w else image
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return buf.tobytes() if ok else None
