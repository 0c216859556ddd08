"""In-memory sources for benchmarks: decode once, then replay without decode cost."""

from __future__ import annotations

import threading
import time

import av
import cv2
import numpy as np

from livefilter.errors import InputError
from livefilter.sources.frame_slot import FrameSlot
from livefilter.types import CapturedFrame, SourceInfo

RESOLUTIONS = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


def decode_frames(path: str, size: tuple[int, int], limit: int) -> list[np.ndarray]:
    """Up to ``limit`` RGB frames of ``path`` scaled to ``size``."""
    frames: list[np.ndarray] = []
    try:
        with av.open(path) as c:
            for f in c.decode(video=0):
                frames.append(f.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray())
                if len(frames) >= limit:
                    break
    except av.error.FFmpegError as e:
        raise InputError(f"cannot decode {path}: {e}") from None
    if not frames:
        raise InputError(f"{path} has no video frames")
    return frames


def tile_faces(frames: list[np.ndarray], copies: int) -> list[np.ndarray]:
    """Make ``copies`` (1 or 4) faces per frame by tiling a 2x2 mosaic of the frame at half size."""
    if copies == 1:
        return frames
    if copies != 4:
        raise ValueError("face count must be 1 or 4")
    out = []
    for f in frames:
        h, w = f.shape[:2]
        half = cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        mosaic = np.empty_like(f)
        mosaic[: h // 2, : w // 2] = half
        mosaic[: h // 2, w // 2 : w // 2 * 2] = half
        mosaic[h // 2 : h // 2 * 2, : w // 2] = half
        mosaic[h // 2 : h // 2 * 2, w // 2 : w // 2 * 2] = half
        out.append(mosaic)
    return out


class ReplaySource:
    """Hands out pre-decoded frames as fast as they are read (throughput mode).

    Each read copies into one of two preallocated buffers (the pipeline works in place).
    """

    def __init__(self, frames: list[np.ndarray], fps: float, count: int) -> None:
        self.frames = frames
        self.count = count
        h, w = frames[0].shape[:2]
        self.info = SourceInfo(width=w, height=h, fps=fps, is_live=False, frame_count=count)
        self._bufs = [np.empty_like(frames[0]) for _ in range(2)]
        self._i = 0
        self.dropped = 0

    def read(self) -> CapturedFrame | None:
        if self._i >= self.count:
            return None
        buf = self._bufs[self._i % 2]
        np.copyto(buf, self.frames[self._i % len(self.frames)])
        frame = CapturedFrame(buf, self._i, time.perf_counter())
        self._i += 1
        return frame

    def close(self) -> None:
        pass


class PacedSource:
    """A simulated camera: a thread produces frames at ``fps``; only the newest is kept."""

    def __init__(self, frames: list[np.ndarray], fps: float, count: int) -> None:
        h, w = frames[0].shape[:2]
        self.info = SourceInfo(width=w, height=h, fps=fps, is_live=True, frame_count=count)
        self._slot = FrameSlot(keep_latest=True)
        self._stop = threading.Event()
        self._frames, self._fps, self._count = frames, fps, count
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = 1.0 / self._fps
        t0 = time.perf_counter()
        for i in range(self._count):
            if self._stop.is_set():
                break
            delay = t0 + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            img = self._frames[i % len(self._frames)].copy()
            if not self._slot.put(CapturedFrame(img, i, time.perf_counter())):
                break
        self._slot.finish()

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def read(self) -> CapturedFrame | None:
        return self._slot.get(timeout=10.0)

    def close(self) -> None:
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout=2.0)
