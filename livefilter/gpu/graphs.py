"""CUDA graphs for the interpreted ONNX networks: one replay instead of hundreds of launches.

The torch ONNX interpreter launches every node from Python (BlazeFace has 347 nodes, FaceMesh
117), which costs more host time than the GPU spends on these small networks. A graph captured
once per batch size replays them with a single call. Graphs read a static input and write static
outputs, so :class:`GraphedModule` copies the batch into its input buffer and returns views of
the output buffers (valid until the next call).
"""

from __future__ import annotations

from typing import Callable


def capture(forward: Callable):
    """A CUDA graph of ``forward()`` (warmed up on a side stream first) and its output.

    ``thread_local`` capture: the pipeline's other thread keeps launching work on its own stream
    meanwhile, and must neither invalidate the capture nor be refused during it.
    """
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            forward()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        out = forward()
    return graph, out


class GraphedModule:
    """``module(x)`` for batches of 1..``max_batch`` as graph replays on CUDA; eager elsewhere.

    ``capture_fn`` is :func:`capture`; tests pass a stand-in with the same contract (static
    output tensors, refreshed by ``replay()``) to check the buffer handling without a GPU.
    """

    def __init__(self, module, sample_shape: tuple[int, ...], device, max_batch: int = 1, dtype=None,
                 enabled: bool | None = None, capture_fn: Callable = capture) -> None:
        import torch

        self.module = module
        self.device = torch.device(device)
        self.sample_shape = tuple(sample_shape)
        self.dtype = dtype or torch.float32
        self.enabled = self.device.type == "cuda" if enabled is None else enabled
        self._capture = capture_fn
        self._graphs: dict[int, tuple] = {}
        self._static = None
        self._grow(max_batch)

    def _grow(self, n: int) -> None:
        import torch

        if self._static is not None and self._static.shape[0] >= n:
            return
        # a new input buffer: graphs captured on the old one would read stale memory
        self._static = torch.zeros((n, *self.sample_shape), dtype=self.dtype, device=self.device)
        self._graphs.clear()

    def __call__(self, x):
        import torch

        with torch.no_grad():
            if not self.enabled:
                return self.module(x)
            n = int(x.shape[0])
            self._grow(n)
            self._static[:n].copy_(x)
            entry = self._graphs.get(n)
            if entry is None:
                static = self._static[:n]
                entry = self._graphs[n] = self._capture(lambda: self.module(static))
            graph, out = entry
            graph.replay()
            return out
