"""torch CUDA translator: FP16, channels-last, one CUDA graph captured per batch size.

The graph is the look's own ONNX run through :mod:`livefilter.translate.onnx_torch`; the crops,
look code and strengths are staged into its static inputs by the device codec
(:mod:`livefilter.translate.device_codec`, allocated once for the largest batch). A host call
copies the crops in, replays the graph and copies the result out (one host sync, at the end,
because this host-facing protocol returns host arrays). The GPU pipeline calls
:meth:`translate_tensor`, which has its own graphs over float device crops and never leaves the
caller's stream; the pipeline captures them for every batch size in :meth:`warm_up`, before it goes
live (:mod:`livefilter.gpu.graphs`).
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
        from livefilter.translate.device_codec import DeviceConditioning, DeviceCropCodec
        from livefilter.translate.onnx_torch import build_module

        self.look = look
        self.input_size = look.input_size
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" and device == "cuda" else torch.float32
        self.name = f"torch-{device}-{'fp16' if self.dtype == torch.float16 else 'fp32'}"
        self.strength_in_network = look.input_names.get("strength") is not None
        self.module = build_module(str(look.model_path), device, self.dtype)
        self.max_faces = max_faces
        s = look.input_size
        # FP32 (N, 3, S, S) crops in [0, 255] in, normalised into the model's precision at its input
        # (the pipeline's geometry stays FP32); FP32 out, rounded
        self._codec = DeviceCropCodec(s, look.normalisation, max_faces, self.device, self.dtype)
        self._roles = [r for r in ("image", "style", "strength") if look.input_names.get(r)]
        k = len(look.style_code or [1])
        self._cond = DeviceConditioning(
            look, self.device,
            style=torch.zeros((max_faces, k), dtype=self.dtype, device=self.device) if "style" in self._roles else None,
            strength=torch.zeros((max_faces, 1), dtype=self.dtype, device=self.device) if "strength" in self._roles
            else None)
        self._crops = torch.zeros((max_faces, s, s, 3), dtype=torch.uint8, device=self.device)  # host path upload
        self._host_out = torch.empty((max_faces, s, s, 3), dtype=torch.uint8,
                                     pin_memory=self.device.type == "cuda")
        self._use_graphs = cuda_graphs and (self.device.type == "cuda" or capture_fn is not None)
        self._host_graphs = GraphSet(f"{look.name} translator (host)", self._host_forward, max_faces, self.device,
                                     self._use_graphs, capture_fn)
        self._dev_graphs = GraphSet(f"{look.name} translator", self._styled, max_faces, self.device,
                                    self._use_graphs, capture_fn)
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()  # buffers filled before any stream reads them

    def _styled(self, n: int):
        """The look on the staged inputs of ``n`` faces: the model, decoded into the codec's FP32 output."""
        torch = _torch()
        inputs = {"image": self._codec.input[:n].contiguous(memory_format=torch.channels_last)}
        if self._cond.style is not None:
            inputs["style"] = self._cond.style[:n]
        if self._cond.strength is not None:
            inputs["strength"] = self._cond.strength[:n]
        return self._codec.decode(self.module(*[inputs[r] for r in self._roles]))

    def _host_forward(self, n: int):
        """Host path: the stylised crops as uint8 NHWC (downloaded by the caller)."""
        torch = _torch()
        return self._styled(n).to(torch.uint8).permute(0, 2, 3, 1)

    def _stage(self, crops, style, strength) -> int:
        n = int(crops.shape[0])
        if n > self.max_faces:
            raise ValueError(f"{n} faces exceed the backend's max of {self.max_faces}")
        self._codec.encode(crops)  # on the caller's stream
        self._cond.put(n, style, strength)
        return n

    def warm_up(self, batches=None) -> None:
        """Capture the device path's graph for every batch size (1..max_faces) before the hot path."""
        torch = _torch()
        with torch.no_grad():
            self._dev_graphs.warm_up(batches)

    def translate_tensor(self, crops, style, strength):
        """Device path: (N,3,S,S) crops in [0, 255] (any float dtype) -> stylised, same range and layout.

        No host transfer: the GPU pipeline keeps everything on its stream (it stages the code and
        the strengths on the device too). The result is a view of a static buffer, valid until the
        next call (the pipeline blends it into the frame within the same frame). On CUDA the chain
        is one graph replay per batch size.
        """
        torch = _torch()
        n = self._stage(crops, style, strength)
        with torch.no_grad():
            self._dev_graphs(n)
        return self._codec.output[:n]

    def __call__(self, crops: np.ndarray, style, strength) -> np.ndarray:
        torch = _torch()
        n = len(crops)
        if n == 0:
            return crops
        if n > self.max_faces:
            raise ValueError(f"{n} faces exceed the backend's max of {self.max_faces}")
        self._crops[:n].copy_(torch.from_numpy(np.ascontiguousarray(crops)), non_blocking=True)
        self._stage(self._crops[:n].permute(0, 3, 1, 2), style, strength)
        with torch.no_grad():
            out = self._host_graphs(n)
        host = self._host_out[:n]
        host.copy_(out, non_blocking=True)
        if self.device.type == "cuda":
            torch.cuda.current_stream().synchronize()
        return host.numpy()
