"""The video delay livefilter adds: capture -> the frame written to the output (the virtual camera).

A microphone goes into OBS directly, the camera through livefilter, so the picture arrives later
than the sound by about this much; OBS's per-input *Sync Offset* delays the microphone to match.
The advice is the median over the last ``window_s`` seconds, so a look switch or a slow frame
does not move it, and it follows a lasting change (another look, another resolution).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

import numpy as np

DEFAULT_WINDOW_S = 10.0
MAX_SAMPLES = 4096  # 10 s at up to ~400 fps
MIN_SAMPLES = 10
OBS_MAX_SYNC_OFFSET_MS = 20000  # obs-websocket's SetInputAudioSyncOffset accepts -950..20000


class OutputLatency:
    """Thread-safe window of (write time, added latency) samples; ``add`` is called per written frame."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        if not window_s > 0:
            raise ValueError("window_s must be positive")
        self.window_s = float(window_s)
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)
        self._lock = threading.Lock()

    def add(self, captured_at: float, written_at: float | None = None) -> None:
        """One frame: captured at ``captured_at``, written at ``written_at`` (``time.perf_counter()``)."""
        now = time.perf_counter() if written_at is None else written_at
        with self._lock:
            self._samples.append((now, (now - captured_at) * 1000.0))

    def _recent(self, now: float | None) -> np.ndarray:
        now = time.perf_counter() if now is None else now
        with self._lock:
            values = [ms for t, ms in self._samples if now - t <= self.window_s]
        return np.asarray(values, np.float64)

    def p50_ms(self, now: float | None = None) -> float:
        """Median added latency over the last ``window_s`` seconds (NaN with too few frames)."""
        data = self._recent(now)
        return float(np.median(data)) if data.size >= MIN_SAMPLES else float("nan")

    def sync_offset_ms(self, now: float | None = None) -> int | None:
        """The microphone Sync Offset that matches the picture, in whole ms (None: not measured yet)."""
        p50 = self.p50_ms(now)
        if not math.isfinite(p50):
            return None
        return int(min(OBS_MAX_SYNC_OFFSET_MS, max(0, round(p50))))

    def summary(self, now: float | None = None) -> dict:
        data = self._recent(now)
        ok = data.size >= MIN_SAMPLES
        return {
            "p50_ms": round(float(np.median(data)), 2) if ok else None,
            "p99_ms": round(float(np.percentile(data, 99)), 2) if ok else None,
            "n": int(data.size),
            "window_s": self.window_s,
            "sync_offset_ms": int(min(OBS_MAX_SYNC_OFFSET_MS, max(0, round(float(np.median(data)))))) if ok else None,
        }


def sync_advice(offset_ms: int | None) -> str | None:
    """The one line a streamer needs (None before enough frames were written)."""
    if offset_ms is None:
        return None
    return f"set your mic's Sync Offset to {offset_ms} ms"


__all__ = ["OutputLatency", "sync_advice"]
