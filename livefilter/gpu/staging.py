"""Per-frame parameters to the device without a host wait.

Each frame the styling stages need a few small host-computed arrays on the device: the affine
thetas of the warp and of the inverse warp, per-face alphas and strengths, face-oval landmarks,
occluder masks. ``tensor.to("cuda")`` from ordinary (pageable) host memory makes torch wait for
the stream to finish everything queued before the copy, so a handful of such copies per frame
would stall the host on the GPU several times a frame. :class:`FrameParams` instead lays every
parameter out once in a pinned host buffer and issues one asynchronous copy into its device twin
per frame, on the caller's stream.

Reuse is safe without extra waits: a frame's copy is queued on the compute stream, which the
frame's one download synchronises, before the next frame writes the pinned buffer again (the
``consumed`` event covers a frame that ended early, e.g. with an exception).
"""

from __future__ import annotations

import numpy as np

_ALIGN = 64  # bytes: every slot starts aligned for any element type


class FrameParams:
    """Every per-frame parameter of the styling chain in one fixed layout: one copy per frame.

    The slots (name -> (shape, dtype)) are laid out once, 64-byte aligned, in a pinned host buffer
    and its device twin. The host fills :attr:`host` (NumPy views) for a frame, then
    :meth:`upload` issues a single asynchronous copy of the bytes in use, on the caller's stream.
    The device views (:attr:`dev`) never move, so CUDA graphs can read them. The largest slot is
    put last and copied only as far as the frame's face count needs.
    """

    def __init__(self, device, slots: dict[str, tuple[tuple[int, ...], object]], last: str | None = None) -> None:
        import torch

        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        order = [k for k in slots if k != last] + ([last] if last else [])
        offsets, end = {}, 0
        for name in order:
            shape, dtype = slots[name]
            start = -(-end // _ALIGN) * _ALIGN
            offsets[name] = start
            end = start + int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.capacity = end
        self.host_bytes = torch.zeros(end, dtype=torch.uint8, pin_memory=cuda)
        self.dev_bytes = torch.zeros(end, dtype=torch.uint8, device=self.device)
        raw = self.host_bytes.numpy()
        self.host: dict[str, np.ndarray] = {}
        self.dev: dict = {}
        self._last = last
        self._offsets = offsets
        for name in order:
            shape, dtype = slots[name]
            dtype = np.dtype(dtype)
            nbytes = int(np.prod(shape)) * dtype.itemsize
            o = offsets[name]
            self.host[name] = raw[o:o + nbytes].view(dtype).reshape(shape)
            self.dev[name] = self.dev_bytes[o:o + nbytes].view(_TORCH[dtype.name]()).view(shape)
        self.consumed = torch.cuda.Event() if cuda else None

    def begin(self) -> None:
        """Start a frame: the previous frame's copy has left the pinned buffer (it has, after that
        frame's download; the event covers a frame that ended early)."""
        if self.consumed is not None:
            self.consumed.synchronize()

    def upload(self, rows_of_last: int | None = None, stream=None) -> None:
        """One asynchronous host->device copy of every slot (of the last slot, its first rows)."""
        end = self.capacity
        if self._last and rows_of_last is not None:
            view = self.host[self._last]
            end = self._offsets[self._last] + rows_of_last * (view.nbytes // max(view.shape[0], 1))
        self.dev_bytes[:end].copy_(self.host_bytes[:end], non_blocking=True)
        if self.consumed is not None:
            self.consumed.record(stream)


def _torch_float32():
    import torch

    return torch.float32


def _torch_uint8():
    import torch

    return torch.uint8


_TORCH = {"float32": _torch_float32, "uint8": _torch_uint8}
