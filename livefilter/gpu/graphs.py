"""CUDA graphs, captured once per batch size during a warm-up, replayed on the hot path.

The torch ONNX interpreter launches every node from Python (BlazeFace has 347 nodes, FaceMesh
117), which costs more host time than the GPU spends on these small networks; the styling chain in
crop space is ~50 small kernels. A graph captured per batch size replays each with a single call.

Capture rules (torch's CUDA-graph notes):

* only one capture may be under way per process: every capture holds :data:`CAPTURE_LOCK`;
* a capture synchronises the device and must not see other work on its stream, so it runs on an
  explicit capture stream (:func:`capture_stream`, one per device and process) and ``thread_local``
  error mode (other threads' streams keep running);
* never on the hot path: :class:`GraphSet` captures every batch size 1..max in :meth:`GraphSet.warm_up`
  (the device pipeline calls it before its face-stage worker starts). A batch size asked for after
  the warm-up is never captured: it runs eagerly and is counted in :data:`ledger` (``refused``), as
  is a capture made outside a warm-up (``hot_path_captures``), so tests can assert both stay zero.

Graphs read static inputs and write static outputs: :class:`GraphedModule` copies the batch into
its input buffer and returns views of the output buffers (valid until the next call).
"""

from __future__ import annotations

import functools
import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

log = logging.getLogger(__name__)

CAPTURE_LOCK = threading.RLock()  # one capture per process (re-entrant: a warm-up holds it across captures)


class CaptureLedger:
    """Process-wide counts of graph captures, for logs and tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.captures = 0  # every capture
        self.hot_path_captures = 0  # captures made outside a warm-up
        self.refused = 0  # graphs asked for after warm-up (ran eagerly instead)
        self._logged: set[str] = set()

    @contextmanager
    def warming_up(self) -> Iterator[None]:
        """Captures made inside this block (on this thread) are warm-up captures."""
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    @property
    def in_warm_up(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def record_capture(self, name: str, batch: int) -> None:
        with self._lock:
            self.captures += 1
            if not self.in_warm_up:
                self.hot_path_captures += 1
                self._warn_once(f"capture:{name}", "CUDA graph for %s (batch %d) captured outside the warm-up "
                                "(this stalls the device once)", name, batch)

    def record_refused(self, name: str, batch: int) -> None:
        with self._lock:
            self.refused += 1
            self._warn_once(f"refused:{name}:{batch}", "no CUDA graph for %s at batch %d after warm-up; "
                            "running it eagerly (never captured on the hot path)", name, batch)

    def _warn_once(self, key: str, msg: str, *args) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(msg, *args)

    def snapshot(self) -> tuple[int, int, int]:
        """(captures, hot-path captures, refused)."""
        with self._lock:
            return self.captures, self.hot_path_captures, self.refused


ledger = CaptureLedger()


@functools.lru_cache(maxsize=None)
def capture_stream(device: str):
    """The process's one capture stream on ``device`` (never used for anything else)."""
    import torch

    return torch.cuda.Stream(device=torch.device(device))


def capture(forward: Callable, device=None, pool=None):
    """A CUDA graph of ``forward()`` and its output, captured on the capture stream.

    ``forward`` runs twice on the capture stream first (lazy initialisation, cuDNN/cuBLAS
    workspaces, the allocator's warm-up), then once inside the capture. The caller's stream waits
    for the capture stream before and after, so no work is reordered around it.
    """
    import torch

    dev = torch.device(device) if device is not None else torch.device("cuda", torch.cuda.current_device())
    with CAPTURE_LOCK:
        side = capture_stream(str(dev))
        caller = torch.cuda.current_stream(dev)
        side.wait_stream(caller)
        with torch.cuda.stream(side):
            for _ in range(2):
                forward()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool, stream=side, capture_error_mode="thread_local"):
                out = forward()
        caller.wait_stream(side)
    return graph, out


def graph_pool(enabled: bool):
    """One memory pool for the graphs of one :class:`GraphSet` (replayed one at a time, on one stream)."""
    if not enabled:
        return None
    import torch

    return torch.cuda.graph_pool_handle() if torch.cuda.is_available() else None


class GraphSet:
    """``forward(n)`` for batch sizes 1..``max_batch`` as graph replays (eager when disabled).

    ``capture_fn(forward_n)`` returns ``(graph, output)`` (:func:`capture`, or a stand-in with its
    contract in tests: the output tensors are what ``graph.replay()`` refreshes).
    """

    def __init__(self, name: str, forward: Callable[[int], object], max_batch: int, device, enabled: bool,
                 capture_fn: Callable | None = None) -> None:
        self.name = name
        self.forward = forward
        self.max_batch = int(max_batch)
        self.device = device
        self.enabled = enabled
        self._capture_fn = capture_fn
        self._pool = graph_pool(enabled and capture_fn is None)
        self._graphs: dict[int, tuple] = {}
        self.sealed = False  # warmed up: nothing is captured any more

    def _capture(self, n: int) -> tuple:
        with CAPTURE_LOCK:
            if self._capture_fn is not None:
                entry = self._capture_fn(lambda: self.forward(n))
            else:
                entry = capture(lambda: self.forward(n), self.device, self._pool)
            ledger.record_capture(self.name, n)
        self._graphs[n] = entry
        return entry

    def warm_up(self, batches: Iterable[int] | None = None) -> None:
        """Capture every batch size (1..max_batch unless given), then seal: no capture after this."""
        if self.enabled:
            with CAPTURE_LOCK, ledger.warming_up():
                for n in batches if batches is not None else range(1, self.max_batch + 1):
                    if n not in self._graphs:
                        self._capture(int(n))
        self.sealed = True

    def reset(self) -> None:
        """Forget every graph (their static buffers were replaced); the next warm-up captures again."""
        self._graphs.clear()
        self.sealed = False

    @property
    def batches(self) -> list[int]:
        return sorted(self._graphs)

    def __call__(self, n: int):
        if not self.enabled:
            return self.forward(n)
        entry = self._graphs.get(n)
        if entry is None:
            if self.sealed:
                ledger.record_refused(self.name, n)
                return self.forward(n)
            entry = self._capture(n)
        graph, out = entry
        graph.replay()
        return out


class GraphedModule:
    """``module(x)`` for batches of 1..``max_batch`` as graph replays on CUDA; eager elsewhere.

    ``capture_fn`` defaults to :func:`capture`; tests pass a stand-in with the same contract (static
    output tensors, refreshed by ``replay()``) to check the buffer handling without a GPU.
    """

    def __init__(self, module, sample_shape: tuple[int, ...], device, max_batch: int = 1, dtype=None,
                 enabled: bool | None = None, capture_fn: Callable | None = None, name: str = "module") -> None:
        import torch

        self.module = module
        self.device = torch.device(device)
        self.sample_shape = tuple(sample_shape)
        self.dtype = dtype or torch.float32
        self.enabled = self.device.type == "cuda" if enabled is None else enabled
        self._static = None
        self.graphs = GraphSet(name, self._forward, max_batch, self.device, self.enabled, capture_fn)
        self._grow(max_batch)

    def _forward(self, n: int):
        return self.module(self._static[:n])

    def _grow(self, n: int) -> None:
        import torch

        if self._static is not None and self._static.shape[0] >= n:
            return
        # a new input buffer: graphs captured on the old one would read stale memory
        self._static = torch.zeros((n, *self.sample_shape), dtype=self.dtype, device=self.device)
        self.graphs.reset()
        self.graphs.max_batch = max(self.graphs.max_batch, n)

    def warm_up(self, batches: Iterable[int] | None = None) -> None:
        """Capture the graphs of every batch size the caller will use (before the hot path)."""
        import torch

        batches = list(batches) if batches is not None else None
        if batches:
            self._grow(max(batches))
        with torch.no_grad():
            self.graphs.warm_up(batches)

    def __call__(self, x):
        import torch

        with torch.no_grad():
            if not self.enabled:
                return self.module(x)
            n = int(x.shape[0])
            if self.graphs.sealed and n > self._static.shape[0]:
                ledger.record_refused(self.graphs.name, n)  # growing would drop every captured graph
                return self.module(x)
            self._grow(n)
            self._static[:n].copy_(x)
            return self.graphs(n)
