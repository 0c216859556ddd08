"""The device twin of :mod:`livefilter.translate.codec`: crops <-> the network's input, on a torch device.

:class:`DeviceCropCodec` normalises (N, 3, S, S) crops in [0, 255] (any dtype: the device pipeline's
FP32 crops, or uint8) into the network's input and maps its output back to [0, 255], rounded and
clipped, with the same maths, in the same order, as :class:`~livefilter.translate.codec.CropCodec`
(FP32). :class:`DeviceConditioning` writes the look code and the strength of a batch into the
network's style and strength inputs. Every buffer is allocated once, for the largest batch; a call
writes into views of them (``out=`` / ``copy_``): no allocation and no host synchronisation per
frame, so both also run inside a captured CUDA graph. The torch and TensorRT device paths use them.
"""

from __future__ import annotations

import numpy as np
import torch

from livefilter.looks.pack import Look, Normalisation


class DeviceCropCodec:
    """x = rgb * scale + bias per channel (encode), rgb = round(clip((y - bias) / scale)) (decode).

    ``input``: the network's input buffer to normalise into, (max_batch, 3, S, S) of any float dtype
    (TensorRT's bound engine tensor); allocated here (``input_dtype``) when not given.
    """

    def __init__(self, size: int, norm: Normalisation, max_batch: int, device, input_dtype=torch.float32,
                 input=None) -> None:
        self.size, self.max_batch = size, max_batch
        self.device = torch.device(device)
        mean = torch.tensor(norm.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(norm.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.scale, self.bias = 1.0 / (255.0 * std), -mean / std
        shape = (max_batch, 3, size, size)
        self.input = input if input is not None else torch.zeros(shape, dtype=input_dtype, device=self.device)
        if tuple(self.input.shape) != shape:
            raise ValueError(f"network input {tuple(self.input.shape)} is not the codec's {shape}")
        # FP32 maths whatever the network's precision: a lower-precision input is cast at the end
        self._f32 = self.input if self.input.dtype == torch.float32 else torch.zeros(shape, device=self.device)
        self.output = torch.zeros(shape, dtype=torch.float32, device=self.device)

    def _check(self, n: int) -> None:
        if n > self.max_batch:
            raise ValueError(f"{n} faces exceed the batch of {self.max_batch}")

    def encode(self, crops):
        """(N, 3, S, S) crops in [0, 255] -> view of the normalised network input ``input[:N]``."""
        n = int(crops.shape[0])
        self._check(n)
        x = self._f32[:n]
        torch.mul(crops, self.scale, out=x)
        x.add_(self.bias)
        if self._f32 is not self.input:
            self.input[:n].copy_(x)
        return self.input[:n]

    def decode(self, y):
        """(N, 3, S, S) network output (any float dtype) -> view of ``output[:N]``: FP32 in [0, 255],
        rounded (half to even, as NumPy's ``rint``) and clipped."""
        n = int(y.shape[0])
        self._check(n)
        out = self.output[:n]
        torch.sub(y, self.bias, out=out)
        out.div_(self.scale)
        out.clamp_(0.0, 255.0)
        return out.round_()


class DeviceConditioning:
    """The look code (one for the whole batch) and per-face strengths, staged into the network's
    ``style`` (max_batch, K) and ``strength`` (max_batch, 1) or (max_batch,) inputs.

    Either buffer is None when the network has no such input. A code or strength may be a device
    tensor (the device pipeline stages them there: a device-to-device copy), a NumPy array or a
    number (a host-to-device copy, for host callers); None as the code means the look's own.
    """

    def __init__(self, look: Look, device, style=None, strength=None) -> None:
        self.device = torch.device(device)
        self.style, self.strength = style, strength
        self.default_style = torch.tensor(look.style_code or [0.0], dtype=torch.float32, device=self.device)

    @staticmethod
    def _tensor(value):
        return value if torch.is_tensor(value) else torch.from_numpy(np.asarray(value, np.float32))

    def put(self, n: int, style, strength) -> None:
        if self.style is not None:
            code = self._tensor(style) if style is not None else self.default_style
            self.style[:n].copy_(code.reshape(1, -1).expand(n, -1))
        if self.strength is not None:
            self.strength[:n].view(n, -1).copy_(self._tensor(strength).reshape(-1, 1).expand(n, 1))
