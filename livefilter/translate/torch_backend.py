"""torch CUDA translator: FP16, channels-last, one CUDA graph captured per batch size.

The graph is the look's own ONNX run through :mod:`livefilter.translate.onnx_torch`. Static input
and output tensors are allocated once per batch size; a call copies the crops in, replays the
graph and copies the result out (one host sync, at the end, because this host-facing protocol
returns host arrays). The GPU pipeline calls :meth:`translate_tensor`, which has its own graphs
over float device crops and never leaves the caller's stream; the pipeline captures them for every
batch size in :meth:`warm_up`, before it goes live (:mod:`livefilter.gpu.graphs`).
"""

from __future__ import annotations

import logging

import numpy as np

from livefilter.errors import BackendUnavailable
from livefilter.gpu.graphs import GraphSet
from livefilter.looks.pack import Look

log = logging.getLogger(__name__)


def _torch():
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("torch-cuda: PyTorch not installed — pip install 'livefilter[train]'") from None
    return torch


class TorchCudaTranslator:
    def __init__(self, look: Look, max_faces: int = 4, precision: str = "fp16", device: str = "cuda",
                 cuda_graphs: bool = True, capture_fn=None) -> None:
        """``capture_fn``: a stand-in for :func:`livefilter.gpu.graphs.capture` (tests: graphs on the CPU)."""
        torch = _torch()
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("torch-cuda: no CUDA device visible to PyTorch")
        from livefilter.translate.onnx_torch import build_module

        self.look = look
        self.input_size = look.input_size
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" and device == "cuda" else torch.float32
        self.name = f"torch-{device}-{'fp16' if self.dtype == torch.float16 else 'fp32'}"
        self.strength_in_network = look.input_names.get("strength") is not None
        self.module = build_module(str(look.model_path), device, self.dtype)
        self.max_faces = max_faces
        mean = torch.tensor(look.normalisation.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(look.normalisation.std, device=self.device).view(1, 3, 1, 1)
        self._scale, self._bias = (1.0 / (255.0 * std)), (-mean / std)
        k = len(look.style_code or [1])
        self._default_style = torch.tensor(look.style_code or [0.0], device=self.device)
        s = look.input_size
        self._crops = torch.zeros((max_faces, s, s, 3), dtype=torch.uint8, device=self.device)
        self._style = torch.zeros((max_faces, k), dtype=self.dtype, device=self.device)
        self._strength = torch.zeros((max_faces, 1), dtype=self.dtype, device=self.device)
        self._host_out = torch.empty((max_faces, s, s, 3), dtype=torch.uint8,
                                     pin_memory=self.device.type == "cuda")
        self._use_graphs = cuda_graphs and (self.device.type == "cuda" or capture_fn is not None)
        # device path (translate_tensor): FP32 (N, 3, S, S) crops in [0, 255] in, cast to the
        # model's precision here, at its input (the pipeline's geometry stays FP32); FP32 out
        self._dev_in = torch.zeros((max_faces, 3, s, s), dtype=self.dtype, device=self.device)
        self._dev_out = torch.zeros((max_faces, 3, s, s), dtype=torch.float32, device=self.device)
        self._roles = [r for r in ("image", "style", "strength") if look.input_names.get(r)]
        self._host_graphs = GraphSet(f"{look.name} translator (host)", self._forward, max_faces, self.device,
                                     self._use_graphs, capture_fn)
        self._dev_graphs = GraphSet(f"{look.name} translator", self._dev_forward, max_faces, self.device,
                                    self._use_graphs, capture_fn)
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()  # buffers filled before any stream reads them

    def _styled(self, x, n: int):
        """The look on (n, 3, S, S) crops in [0, 255]: normalise, run the model, back to [0, 255] (float)."""
        torch = _torch()
        x = (x.to(self.dtype) * self._scale.to(self.dtype) + self._bias.to(self.dtype))
        x = x.contiguous(memory_format=torch.channels_last)
        args = {"image": x, "style": self._style[:n], "strength": self._strength[:n]}
        y = self.module(*[args[r] for r in self._roles])
        return ((y.float() - self._bias) / self._scale).clamp_(0, 255)

    def _forward(self, n: int):
        """Host path: uint8 NHWC ``_crops[:n]`` in, uint8 NHWC out."""
        torch = _torch()
        return self._styled(self._crops[:n].permute(0, 3, 1, 2), n).round_().to(torch.uint8).permute(0, 2, 3, 1)

    def warm_up(self, batches=None) -> None:
        """Capture the device path's graph for every batch size (1..max_faces) before the hot path."""
        torch = _torch()
        with torch.no_grad():
            self._dev_graphs.warm_up(batches)

    def _dev_forward(self, n: int):
        """Device path: float ``_dev_in[:n]`` in, rounded into ``_dev_out[:n]``."""
        torch = _torch()
        out = self._dev_out[:n]
        torch.round(self._styled(self._dev_in[:n], n), out=out)
        return out

    def translate_tensor(self, crops, style, strength):
        """Device path: (N,3,S,S) crops in [0, 255] (any float dtype) -> stylised, same range and layout.

        No host transfer: the GPU pipeline keeps everything on its stream.
        The result is a view of a static buffer, valid until the next call (the pipeline blends it
        into the frame within the same frame). On CUDA the chain is one graph replay per batch size.
        """
        torch = _torch()
        n = crops.shape[0]
        if n > self.max_faces:
            raise ValueError(f"{n} faces exceed the backend's max of {self.max_faces}")
        self._dev_in[:n].copy_(crops)  # device to device, on the caller's stream
        code = style if style is not None else self._default_style
        self._style[:n].copy_(torch.as_tensor(code).to(self.device, self.dtype).reshape(1, -1).expand(n, -1))
        st = strength if torch.is_tensor(strength) else torch.as_tensor(np.asarray(strength, np.float32))
        self._strength[:n, 0].copy_(st.to(self.device, self.dtype))  # the pipeline stages it on the device
        with torch.no_grad():
            self._dev_graphs(n)
            return self._dev_out[:n]

    def run_device(self, n: int):
        """Run on the already-filled device inputs; returns the device output (no host sync)."""
        torch = _torch()
        with torch.no_grad():
            return self._host_graphs(n)

    def __call__(self, crops: np.ndarray, style, strength) -> np.ndarray:
        torch = _torch()
        n = len(crops)
        if n == 0:
            return crops
        if n > self.max_faces:
            raise ValueError(f"{n} faces exceed the backend's max of {self.max_faces}")
        self._crops[:n].copy_(torch.from_numpy(np.ascontiguousarray(crops)), non_blocking=True)
        code = torch.from_numpy(np.asarray(style, np.float32)) if style is not None else self._default_style
        self._style[:n].copy_(code.to(self.device, self.dtype).expand(n, -1))
        self._strength[:n, 0].copy_(torch.from_numpy(np.asarray(strength, np.float32)).to(self.device, self.dtype))
        out = self.run_device(n)
        host = self._host_out[:n]
        host.copy_(out, non_blocking=True)
        if self.device.type == "cuda":
            torch.cuda.current_stream().synchronize()
        return host.numpy()
