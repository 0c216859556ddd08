"""A per-frame time budget for a stage: a late stage makes that frame pass through unfiltered."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from livefilter.protocols import Translator


class StageTimeout(RuntimeError):
    """The stage did not finish within its budget (the frame goes out unfiltered)."""


class TimeBudgetTranslator:
    """Runs a translator on one worker thread with a deadline.

    When a call overruns, the frame passes through and, while the late call is still running, later
    frames pass through immediately instead of queueing behind it: latency stays bounded.
    """

    def __init__(self, translator: Translator, budget_ms: float) -> None:
        self.inner = translator
        self.budget = budget_ms / 1000.0
        self.name = translator.name
        self.input_size = translator.input_size
        self.strength_in_network = translator.strength_in_network
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livefilter-translate")
        self._late: Future | None = None
        self._lock = threading.Lock()
        self.timeouts = 0

    def __call__(self, crops: np.ndarray, style, strength) -> np.ndarray:
        with self._lock:
            if self._late is not None and not self._late.done():
                self.timeouts += 1
                raise StageTimeout("translator still busy with a late frame")
            future = self._pool.submit(self.inner, crops, style, strength)
        try:
            return future.result(timeout=self.budget)
        except TimeoutError:
            with self._lock:
                self._late = future
            self.timeouts += 1
            raise StageTimeout(f"translator took longer than {self.budget * 1000:.0f} ms") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
