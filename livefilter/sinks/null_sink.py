"""A sink that discards frames (benchmarks, dry runs)."""

from __future__ import annotations

import numpy as np

from livefilter.types import CapturedFrame


class NullSink:
    closed = False  # it never stops taking frames

    def __init__(self) -> None:
        self.frames = 0
        self.last: np.ndarray | None = None

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        self.frames += 1
        self.last = image

    def close(self) -> None:
        pass
