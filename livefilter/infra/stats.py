"""Per-stage timing shared by the pipeline, the preview overlay, the control panel and bench."""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from livefilter.infra.latency import OutputLatency

STAGES = ("capture_wait", "detect", "align", "translate", "blend", "sink", "end_to_end")


@dataclass
class StageStats:
    window: int = 4096
    samples: dict[str, deque] = field(default_factory=dict)
    frames: int = 0
    passthrough: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    # capture -> written to the output, over the last seconds (the audio Sync Offset advice)
    output_latency: OutputLatency = field(default_factory=OutputLatency)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._where = threading.local()  # the stage running now, per thread (the failure policy's label)

    def mark(self, stage: str) -> None:
        """Name the stage this thread runs now (what a failure on this thread is counted as)."""
        self._where.stage = stage

    @property
    def current(self) -> str:
        """The stage this thread entered last (:meth:`mark` or :meth:`time`)."""
        return getattr(self._where, "stage", "detect")

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self.samples.setdefault(stage, deque(maxlen=self.window)).append(ms)

    @contextmanager
    def time(self, stage: str):
        self._where.stage = stage
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, (time.perf_counter() - t0) * 1000.0)

    def count_error(self, kind: str) -> int:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
            return self.errors[kind]

    def percentiles(self, stage: str) -> dict[str, float]:
        with self._lock:
            data = np.asarray(self.samples.get(stage, ()), np.float64)
        if data.size == 0:
            return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan"), "n": 0}
        p50, p95, p99 = np.percentile(data, [50, 95, 99])
        return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(data.mean()), "n": int(data.size)}

    def fps(self) -> float:
        """Frames per second over the recent end-to-end window (wall clock)."""
        elapsed = time.perf_counter() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            stages = [s for s in STAGES if s in self.samples] + [s for s in self.samples if s not in STAGES]
        return {s: self.percentiles(s) for s in stages}

    def overlay_text(self) -> str:
        e2e = self.percentiles("end_to_end")
        return f"{self.fps():5.1f} fps  p50 {e2e['p50']:.1f} ms  p99 {e2e['p99']:.1f} ms"

    def table(self, title: str = "per-stage latency (ms)"):
        from rich.table import Table

        t = Table(title=title)
        for col in ("stage", "p50", "p95", "p99", "mean", "n"):
            t.add_column(col, justify="right" if col != "stage" else "left")
        for stage, p in self.summary().items():
            t.add_row(stage, f"{p['p50']:.2f}", f"{p['p95']:.2f}", f"{p['p99']:.2f}", f"{p['mean']:.2f}", str(p["n"]))
        return t
