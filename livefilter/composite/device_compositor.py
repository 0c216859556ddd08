"""Batched device-side residual composite and pixel-format conversion (the crop warp is :mod:`livefilter.align.device`).

All faces of a frame are handled by single batched calls (one ``grid_sample`` for every crop, one
for every inverse warp); buffers are allocated once per (resolution, max faces). With ``fuse`` the
frame-sized elementwise tails run as torch.compile'd kernels (:mod:`livefilter.composite.fused`).
"""

from __future__ import annotations

import numpy as np

from livefilter.align.device import warp_crops
from livefilter.composite.fused import Fuser, composite, composite_into, planar_into


class DeviceCompositor:
    """One instance per (frame size, crop size, max faces, device).

    The frame comes from :meth:`bind`: the pipeline's double-buffered
    :class:`~livefilter.gpu.frames.DeviceFrameBuffer` holds the upload and the download buffers.
    """

    def __init__(self, height: int, width: int, size: int, mask: np.ndarray, max_faces: int = 4,
                 device: str = "cuda", dtype=None, fuse: bool = False, crops=None) -> None:
        """``fuse``: compile the frame-sized pixel-format conversion into a fused kernel."""
        import torch

        self.fuser = Fuser(fuse)
        self.h, self.w, self.size, self.max_faces = height, width, size, max_faces
        self.device = torch.device(device)
        # FP32 geometry: an FP16 sampling grid is off by up to ~0.5 px at 1080p (landmark jitter)
        self.dtype = dtype or torch.float32
        self.mask = torch.from_numpy(np.ascontiguousarray(mask)).to(self.device, self.dtype)[None, None]
        # ``crops``: a buffer shared with the crop-space stage (its graphs read it at a fixed address)
        self.crops = crops if crops is not None else torch.zeros((max_faces, 3, size, size), dtype=self.dtype,
                                                                  device=self.device)
        self.out = torch.zeros((height, width, 3), dtype=torch.uint8, device=self.device)
        self.planar = torch.zeros((height * 3 // 2, width), dtype=torch.uint8, device=self.device)
        self.frame_f = None  # (1, 3, H, W) float, bound per frame
        self.frame = None  # (H, W, 3) uint8 twin of frame_f, when there is one

    def bind(self, frame_f, frame_u8=None) -> None:
        """Work on ``frame_f`` ((1, 3, H, W) on this device, this dtype) for the next warp and blend;
        ``frame_u8`` is the same frame as (H, W, 3) uint8 (copied to the output outside the faces)."""
        if tuple(frame_f.shape) != (1, 3, self.h, self.w):
            raise ValueError(f"frame {tuple(frame_f.shape)} does not fit a {self.w}x{self.h} compositor")
        if frame_u8 is not None and tuple(frame_u8.shape) != (self.h, self.w, 3):
            raise ValueError(f"frame {tuple(frame_u8.shape)} does not fit a {self.w}x{self.h} compositor")
        self.frame_f = frame_f
        self.frame = frame_u8

    # -- stages ----------------------------------------------------------------------------------
    def warp_theta(self, theta):
        """Aligned crops for every face in one grid_sample: (N, 3, S, S) in [0, 255] (a view of
        :attr:`crops`), sampled with ``theta`` ((N, 2, 3) on the device, :func:`warp_thetas`)."""
        n = theta.shape[0]
        return warp_crops(self.frame_f, theta, self.size, out=self.crops[:n])

    def blend_delta(self, delta, region: tuple[int, int, int, int], theta, gate=None):
        """Composite premultiplied crop-space ``delta`` (N, 3, S, S) into the faces' ``region`` of the
        frame, sampling with ``theta`` (:func:`back_thetas`, on the device). ``gate(back, frame)``, when
        given, edits the faces' warped layers ``back`` (N, 3, h, w) in place over the region's ``frame``
        (3, h, w) before they are added (the makeup placement's frame step)."""
        import torch.nn.functional as F

        n = delta.shape[0]
        y0, x0, h, w = region
        if self.frame is not None:
            self.out.copy_(self.frame)
        else:  # no uint8 frame bound: convert (the float frame holds whole numbers)
            composite_into(self.out, self.frame_f, self.frame_f.new_zeros((1, 1, 1, 1)), self.fuser)
        if h == 0 or w == 0:
            return self.out
        grid = F.affine_grid(theta, (n, 3, h, w), align_corners=False)
        back = F.grid_sample(delta, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if gate is not None:
            gate(back, self.frame_f[0, :, y0:y0 + h, x0:x0 + w])
        self.out[y0:y0 + h, x0:x0 + w] = composite(self.frame_f[:, :, y0:y0 + h, x0:x0 + w], back)
        return self.out

    def to_pixel_format(self, fmt: str):
        """RGB -> I420 / NV12 on the device (BT.601 limited range, as OpenCV), flat uint8 (H*3/2, W)."""
        if fmt == "RGB":
            return self.out
        if fmt not in ("I420", "NV12"):
            raise ValueError(f"pixel format must be RGB, I420 or NV12, got {fmt!r}")
        planar_into(self.planar, self.out, fmt == "NV12", self.fuser)
        return self.planar
