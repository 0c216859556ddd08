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
    """Engine I/O as preallocated torch tensors on ``device``; one instance per translator. The
    device codec (:mod:`livefilter.translate.device_codec`) normalises into the engine's own input
    tensor and stages the look code and strengths into its other inputs."""

    def __init__(self, runner, look: Look, device) -> None:
        import torch

        from livefilter.translate.device_codec import DeviceConditioning, DeviceCropCodec

        self.runner, self.look = runner, look
        self.device = torch.device(device)
        # runner.shapes: name -> (shape with the batch at max_batch, numpy dtype)
        self.tensors = {name: torch.zeros(shape, dtype=torch_dtype(dt), device=self.device)
                        for name, (shape, dt) in runner.shapes.items()}
        names = look.input_names
        self._codec = DeviceCropCodec(look.input_size, look.normalisation, runner.max_batch, self.device,
                                      input=self.tensors[names["image"]])
        self._cond = DeviceConditioning(look, self.device, style=self.tensors.get(names.get("style")),
                                        strength=self.tensors.get(names.get("strength")))
        self._output = look.output_name or runner.outputs[0]
        if self.device.type == "cuda":  # the zero fills are done before another stream reads these
            torch.cuda.current_stream(self.device).synchronize()

    def addresses(self) -> dict[str, int]:
        return {name: int(t.data_ptr()) for name, t in self.tensors.items()}

    def translate(self, crops, style, strength, stream_handle: int):
        """(N, 3, S, S) crops in [0, 255] -> stylised crops, same range (a view of a reused buffer)."""
        n = int(crops.shape[0])
        if n > self.runner.max_batch:
            raise ValueError(f"{n} faces exceed the engine's batch of {self.runner.max_batch}")
        self._codec.encode(crops)
        self._cond.put(n, style, strength)  # the pipeline stages them on the device already (no host wait)
        self.runner.enqueue(n, stream_handle)
        return self._codec.decode(self.tensors[self._output][:n])
