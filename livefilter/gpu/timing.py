"""Per-stage device times from CUDA events, read after the frame's one sync (no extra host waits).

Timing a CUDA stage with the host clock measures how long it took to *queue* the kernels, not to
run them. Each stage instead records a start and an end event on the stream it runs on; after the
frame's final synchronisation every event has completed and ``elapsed_time`` is read for free.
On the CPU device the work is synchronous and the host clock is exact.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from livefilter.infra.stats import StageStats


class DeviceStageClock:
    """Stage timer for work queued on the current CUDA stream (or run on the CPU)."""

    def __init__(self, stats: StageStats, cuda: bool) -> None:
        self.stats = stats
        self.cuda = cuda
        self._events: dict[str, tuple] = {}  # one reusable (start, end) pair per stage
        self._pending: list[str] = []

    def _pair(self, name: str) -> tuple:
        pair = self._events.get(name)
        if pair is None:
            import torch

            pair = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            self._events[name] = pair
        return pair

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        if not self.cuda:
            with self.stats.time(name):
                yield
            return
        start, end = self._pair(name)
        start.record()
        yield
        end.record()
        if name not in self._pending:
            self._pending.append(name)

    def flush(self) -> None:
        """Add the device time of every stage queued since the last flush (call after the sync)."""
        for name in self._pending:
            start, end = self._events[name]
            self.stats.add(name, float(start.elapsed_time(end)))
        self._pending.clear()
