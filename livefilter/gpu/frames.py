"""Double-buffered device frames: one pinned upload per frame, ordered by CUDA events.

A :class:`DeviceFrameBuffer` holds everything one frame needs on the device: the pinned host
staging buffer, the uint8 and float copies of the frame, and the pinned host buffer its result is
downloaded into. The pipeline keeps two per resolution and alternates between them, so the face
stage can upload and detect frame N+1 on its own stream while frame N is styled on another.

Ordering (no host waits except the final download):

* ``ready`` is recorded on the face stream after the upload; the compute stream waits on it before
  it reads the frame.
* ``released`` is recorded on the compute stream once the frame has been composited; the face
  stream waits on it before it overwrites this buffer with a later frame.
"""

from __future__ import annotations

import numpy as np


def is_device_tensor(image) -> bool:
    """Whether ``image`` is a torch tensor (a frame decoded on the device) rather than a NumPy array."""
    if isinstance(image, np.ndarray):  # the host frames' fast path: no torch import needed
        return False
    import torch

    return torch.is_tensor(image)


class DeviceFrameBuffer:
    """One frame's device and pinned host buffers for one resolution (allocated once, reused)."""

    def __init__(self, height: int, width: int, device, dtype) -> None:
        import torch

        self.h, self.w = height, width
        self.device = torch.device(device)
        self.dtype = dtype
        cuda = self.device.type == "cuda"
        self.host_in = torch.zeros((height, width, 3), dtype=torch.uint8, pin_memory=cuda)
        self.frame = torch.zeros((height, width, 3), dtype=torch.uint8, device=self.device)
        self.frame_f = torch.zeros((1, 3, height, width), dtype=dtype, device=self.device)
        self.host_out = torch.zeros((height, width, 3), dtype=torch.uint8, pin_memory=cuda)
        self.host_planar = torch.zeros((height * 3 // 2, width), dtype=torch.uint8, pin_memory=cuda)
        self.ready = torch.cuda.Event() if cuda else None
        self.released = torch.cuda.Event() if cuda else None
        self.copied = torch.cuda.Event() if cuda else None  # the upload has left host_in

    def load(self, image, stream=None) -> None:
        """Bring ``image`` (host (H, W, 3) uint8, or a device tensor of that shape) into this buffer.

        Runs on ``stream`` (the face stream) when given; records ``ready`` when the frame is usable.
        """
        import torch

        if stream is not None:
            stream.wait_event(self.released)  # the frame this buffer held last is composited
        if is_device_tensor(image):
            self.frame.copy_(image, non_blocking=True)  # decoded on the device: a device-to-device copy
            if stream is not None and image.is_cuda:
                image.record_stream(stream)  # keep its memory from reuse until this stream has read it
        else:
            if self.copied is not None:
                self.copied.synchronize()  # the previous upload from host_in has finished (two frames ago)
            self.host_in.numpy()[...] = image
            self.frame.copy_(self.host_in, non_blocking=True)
            if self.copied is not None:
                self.copied.record(stream)
        self.frame_f.copy_(self.frame.permute(2, 0, 1)[None].to(self.dtype))
        if self.ready is not None:
            self.ready.record(stream)
        del torch

    def download(self, result, stream=None) -> np.ndarray:
        """The one device->host copy of a frame: ``result`` (H, W, 3) or planar (H*3/2, W) uint8.

        Synchronises ``stream`` (the only host wait of the styling path) and returns a view of this
        buffer's pinned memory, valid until the buffer is reused two frames later.
        """
        host = self.host_out if result.dim() == 3 else self.host_planar
        host.copy_(result, non_blocking=True)
        if stream is not None:
            stream.synchronize()
        return host.numpy()
