"""Batched device-side warp, residual composite, colour edits and pixel-format conversion.

All faces of a frame are handled by single batched calls (one ``grid_sample`` for every crop, one
for every inverse warp); buffers are allocated once per (resolution, max faces). With ``fuse`` the
frame-sized elementwise tails run as torch.compile'd kernels (:mod:`livefilter.gpu.fused`).
"""

from __future__ import annotations

import numpy as np

from livefilter.gpu.fused import Fuser, composite_into, planar_into
from livefilter.gpu.staging import ParamStaging, staging_capacity
from livefilter.looks.pack import ColorEdits


def _torch():
    import torch

    return torch


def affine_to_theta(m: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """Convert pixel-space 2x3 matrices (dst->src sampling) into ``affine_grid``'s normalised thetas.

    ``m`` maps *destination* pixel centres to *source* pixel coordinates (what grid_sample needs).
    With align_corners=False, pixel x maps to normalised (2x + 1) / W - 1.
    """
    (sh, sw), (dh, dw) = src_hw, dst_hw
    n = len(m)
    # dst normalised -> dst pixel
    a = np.array([[dw / 2, 0, dw / 2 - 0.5], [0, dh / 2, dh / 2 - 0.5], [0, 0, 1]], np.float64)
    # src pixel -> src normalised
    b = np.array([[2 / sw, 0, 1 / sw - 1], [0, 2 / sh, 1 / sh - 1], [0, 0, 1]], np.float64)
    full = np.concatenate([m, np.tile([[[0, 0, 1]]], (n, 1, 1))], axis=1)
    return (b @ full @ a)[:, :2].astype(np.float32)


def invert_affines(m: np.ndarray) -> np.ndarray:
    full = np.concatenate([m, np.tile([[[0, 0, 1]]], (len(m), 1, 1))], axis=1)
    return np.linalg.inv(full)[:, :2]


class DeviceCompositor:
    """One instance per (frame size, crop size, max faces, device)."""

    def __init__(self, height: int, width: int, size: int, mask: np.ndarray, max_faces: int = 4,
                 device: str = "cuda", dtype=None, frame_buffers: bool = True, fuse: bool = False) -> None:
        """``frame_buffers=False``: the frame comes from :meth:`bind` (the pipeline's double-buffered
        :class:`~livefilter.gpu.frames.DeviceFrameBuffer`), so no upload/download buffers here.
        ``fuse``: compile the composite and pixel-format tails into fused kernels."""
        torch = _torch()
        self.fuser = Fuser(fuse)
        self.h, self.w, self.size, self.max_faces = height, width, size, max_faces
        self.device = torch.device(device)
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.mask = torch.from_numpy(np.ascontiguousarray(mask)).to(self.device, self.dtype)[None, None]
        # small per-frame arrays (thetas, alphas, ...) go through pinned memory: no stream waits
        self.params = ParamStaging(self.device, staging_capacity(max_faces, size))
        self._warm = torch.tensor([20.0, 0.0, -20.0], device=self.device, dtype=self.dtype).view(1, 3, 1, 1)
        self.crops = torch.zeros((max_faces, 3, size, size), dtype=self.dtype, device=self.device)
        self.out = torch.zeros((height, width, 3), dtype=torch.uint8, device=self.device)
        self.planar = torch.zeros((height * 3 // 2, width), dtype=torch.uint8, device=self.device)
        self.frame_f = None
        if frame_buffers:
            pin = self.device.type == "cuda"
            self.frame = torch.zeros((height, width, 3), dtype=torch.uint8, device=self.device)
            self.frame_f = torch.zeros((1, 3, height, width), dtype=self.dtype, device=self.device)
            self.host_in = torch.zeros((height, width, 3), dtype=torch.uint8, pin_memory=pin)
            self.host_out = torch.zeros((height, width, 3), dtype=torch.uint8, pin_memory=pin)

    def bind(self, frame_f) -> None:
        """Work on ``frame_f`` ((1, 3, H, W) on this device, this dtype) for the next warp and blend."""
        if tuple(frame_f.shape) != (1, 3, self.h, self.w):
            raise ValueError(f"frame {tuple(frame_f.shape)} does not fit a {self.w}x{self.h} compositor")
        self.frame_f = frame_f

    # -- transfer --------------------------------------------------------------------------------
    def upload(self, image: np.ndarray) -> None:
        """Copy the frame into the pinned buffer and start one async host->device copy."""
        torch = _torch()
        self.host_in.numpy()[...] = image
        self.frame.copy_(self.host_in, non_blocking=True)
        self.frame_f.copy_(self.frame.permute(2, 0, 1)[None].to(self.dtype))
        del torch

    def download(self) -> np.ndarray:
        """The one device->host copy per frame (the caller synchronises the stream before reading)."""
        self.host_out.copy_(self.out, non_blocking=True)
        return self.host_out.numpy()

    # -- stages ----------------------------------------------------------------------------------
    def warp(self, matrices: np.ndarray):
        """Aligned crops for every face in one grid_sample: (N, 3, S, S) in [0, 255]."""
        import torch.nn.functional as F

        n = len(matrices)
        inv = invert_affines(matrices)  # crop pixel -> frame pixel
        theta = self.params.put(affine_to_theta(inv, (self.h, self.w), (self.size, self.size)), self.dtype)
        grid = F.affine_grid(theta, (n, 3, self.size, self.size), align_corners=False)
        src = self.frame_f.expand(n, -1, -1, -1)
        self.crops[:n] = F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        return self.crops[:n]

    def edit(self, styled, edits: ColorEdits):
        """Brightness / contrast / warmth / saturation on the stylised crops (same maths as the CPU LUT)."""
        if edits.is_identity:
            return styled
        x = (styled - 128.0) * (1.0 + edits.contrast) + 128.0 + 64.0 * edits.brightness
        x = (x + self._warm * edits.warmth).clamp(0, 255).round()
        if edits.saturation:
            grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
            x = (x * (1.0 + edits.saturation) - grey * edits.saturation).clamp(0, 255)
        return x

    def blend(self, styled, crops, matrices: np.ndarray, alphas: np.ndarray, masks=None):
        """Residual composite of every face into the frame with one batched inverse warp."""
        import torch.nn.functional as F

        n = len(matrices)
        a = self.params.put(np.broadcast_to(np.asarray(alphas, np.float32), (n,)), self.dtype).view(n, 1, 1, 1)
        m = masks if masks is not None else self.mask
        delta = (styled - crops) * m * a  # premultiplied in crop space
        theta = self.params.put(affine_to_theta(matrices, (self.size, self.size), (self.h, self.w)), self.dtype)
        grid = F.affine_grid(theta, (n, 3, self.h, self.w), align_corners=False)
        back = F.grid_sample(delta, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        composite_into(self.out, self.frame_f, back, self.fuser)
        return self.out

    def to_pixel_format(self, fmt: str):
        """RGB -> I420 / NV12 on the device (BT.601 limited range, as OpenCV), flat uint8 (H*3/2, W)."""
        if fmt == "RGB":
            return self.out
        if fmt not in ("I420", "NV12"):
            raise ValueError(f"pixel format must be RGB, I420 or NV12, got {fmt!r}")
        planar_into(self.planar, self.out, fmt == "NV12", self.fuser)
        return self.planar
