"""Per-frame parameters to the device without a host wait.

Each frame the styling stages need a few small host-computed arrays on the device: the affine
thetas of the warp and of the inverse warp, per-face alphas and strengths, face-oval landmarks,
occluder masks. ``tensor.to("cuda")`` from ordinary (pageable) host memory makes torch wait for
the stream to finish everything queued before the copy, so a handful of such copies per frame
would stall the host on the GPU several times a frame. :class:`ParamStaging` instead writes every
array of a frame into one preallocated pinned buffer and issues asynchronous copies into a device
buffer of the same size, on the caller's stream.

Reuse is safe without extra waits: a frame's copies are queued on the compute stream, which the
frame's one download synchronises, before the next frame writes the pinned buffer again (the
``consumed`` event covers a frame that ended early, e.g. with an exception).
"""

from __future__ import annotations

import numpy as np

_ALIGN = 64  # bytes: every array starts aligned for any element type


class ParamStaging:
    """A pinned host buffer and its device twin, filled front to back once per frame."""

    def __init__(self, device, capacity: int) -> None:
        import torch

        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        self.capacity = int(capacity)
        self.host = torch.zeros(self.capacity, dtype=torch.uint8, pin_memory=cuda)
        self.dev = torch.zeros(self.capacity, dtype=torch.uint8, device=self.device)
        self._host_np = self.host.numpy()
        self._offset = 0
        self.consumed = torch.cuda.Event() if cuda else None

    def begin(self) -> None:
        """Start a frame: the previous frame's copies have left the pinned buffer."""
        if self.consumed is not None:
            self.consumed.synchronize()  # already complete after the previous frame's download
        self._offset = 0

    def put(self, array, dtype=None):
        """``array`` on the device (a view of the device buffer), copied asynchronously.

        float arrays travel as float32, bool as uint8 (returned as bool); ``dtype`` converts on
        the device afterwards.
        """
        import torch

        a = np.asarray(array)
        shape = a.shape
        if a.dtype == np.bool_:
            host_dtype, torch_dtype = np.uint8, torch.bool  # same bytes: viewed, not converted
        elif np.issubdtype(a.dtype, np.integer):
            host_dtype, torch_dtype = np.int64, torch.int64
        else:
            host_dtype, torch_dtype = np.float32, torch.float32
        a = np.ascontiguousarray(a, dtype=host_dtype)
        start = -(-self._offset // _ALIGN) * _ALIGN
        end = start + a.nbytes
        if end > self.capacity:
            start, end = self._wrap(a.nbytes)
        self._host_np[start:end] = a.reshape(-1).view(np.uint8)
        dev = self.dev[start:end]
        dev.copy_(self.host[start:end], non_blocking=True)
        self._offset = end
        out = dev.view(torch_dtype).view(shape)
        return out.to(dtype) if dtype is not None else out

    def _wrap(self, nbytes: int) -> tuple[int, int]:
        """Out of room (no ``begin`` between frames, or more than the frame was sized for): wait
        for the copies already queued to leave the pinned buffer, then start again at its front.
        Device-side reuse needs no wait: the stream runs the earlier readers before this copy."""
        import torch

        if nbytes > self.capacity:
            raise ValueError(f"a {nbytes}-byte parameter exceeds the {self.capacity}-byte staging buffer")
        if self.consumed is not None:
            self.consumed.record(torch.cuda.current_stream(self.device))
            self.consumed.synchronize()
        return 0, nbytes

    def end(self, stream=None) -> None:
        """Mark the frame's copies as queued on ``stream``."""
        if self.consumed is not None:
            self.consumed.record(stream)


def staging_capacity(max_faces: int, crop_size: int, style_dims: int = 64) -> int:
    """Bytes for one frame: thetas, alphas, strengths, oval points, occluder masks, style code."""
    per_face = 2 * 6 * 4 + 2 * 4 + 64 * 2 * 4 + crop_size * crop_size + 16
    return max_faces * per_face + style_dims * 4 + 16 * _ALIGN


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
