"""TensorRT on the GPU pipeline's own tensors: no host copies, the caller's CUDA stream.

The host-facing :class:`~livefilter.translate.tensorrt_backend.TensorRTTranslator` uploads crops
from pinned memory and downloads the result. Inside the device pipeline the crops are already on
the GPU, so :class:`TensorRTDeviceIO` allocates the engine's input and output tensors once as
torch tensors, binds their addresses to the execution context, normalises the crops into them
and enqueues the engine on the stream the pipeline is running (``execute_async_v3`` with torch's
current stream), with no synchronisation anywhere.
"""

from __future__ import annotations

import numpy as np

from livefilter.looks.pack import Look


def torch_dtype(np_dtype):
    """The torch dtype of an engine tensor's NumPy dtype (TensorRT reports them as NumPy types)."""
    import torch

    table = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16,
             np.dtype(np.int32): torch.int32, np.dtype(np.int64): torch.int64, np.dtype(np.int8): torch.int8,
             np.dtype(np.uint8): torch.uint8, np.dtype(np.bool_): torch.bool}
    try:
        return table[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(f"engine tensor type {np_dtype} has no torch equivalent") from None


class TensorRTDeviceIO:
    """Engine I/O as preallocated torch tensors on ``device``; one instance per translator."""

    def __init__(self, runner, look: Look, device) -> None:
        import torch

        self.runner, self.look = runner, look
        self.device = torch.device(device)
        # runner.shapes: name -> (shape with the batch at max_batch, numpy dtype)
        self.tensors = {name: torch.zeros(shape, dtype=torch_dtype(dt), device=self.device)
                        for name, (shape, dt) in runner.shapes.items()}
        mean = torch.tensor(look.normalisation.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(look.normalisation.std, device=self.device).view(1, 3, 1, 1)
        self._scale, self._bias = 1.0 / (255.0 * std), -mean / std  # x = rgb * scale + bias
        self._image = look.input_names["image"]
        self._style = look.input_names.get("style")
        self._strength = look.input_names.get("strength")
        self._output = look.output_name or runner.outputs[0]
        self._default_style = torch.tensor(look.style_code or [0.0], device=self.device)
        s = look.input_size
        self._out = torch.zeros((runner.max_batch, 3, s, s), dtype=torch.float32, device=self.device)
        if self.device.type == "cuda":  # the zero fills are done before another stream reads these
            torch.cuda.current_stream(self.device).synchronize()

    def addresses(self) -> dict[str, int]:
        return {name: int(t.data_ptr()) for name, t in self.tensors.items()}

    def translate(self, crops, style, strength, stream_handle: int):
        """(N, 3, S, S) crops in [0, 255] -> stylised crops, same range (a view of a reused buffer)."""
        import torch

        n = int(crops.shape[0])
        if n > self.runner.max_batch:
            raise ValueError(f"{n} faces exceed the engine's batch of {self.runner.max_batch}")
        image = self.tensors[self._image][:n]
        image.copy_(crops * self._scale + self._bias)
        if self._style:
            code = style if style is not None else self._default_style
            self.tensors[self._style][:n].copy_(torch.as_tensor(code).to(self.device).reshape(1, -1).expand(n, -1))
        if self._strength:
            st = strength if torch.is_tensor(strength) else torch.as_tensor(np.asarray(strength, np.float32))
            st = st.to(self.device)  # the pipeline stages it on the device already (no host wait)
            self.tensors[self._strength][:n].copy_(st.reshape(-1, 1).expand(n, 1))
        self.runner.enqueue(n, stream_handle)
        out = self._out[:n]
        torch.round(((self.tensors[self._output][:n].float() - self._bias) / self._scale).clamp_(0, 255), out=out)
        return out
