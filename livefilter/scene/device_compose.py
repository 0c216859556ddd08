"""Background and grade on the device (torch): the twins of :mod:`livefilter.scene.background` and
:mod:`livefilter.scene.grade`, on (H, W, 3) uint8 frame tensors.

The grade's table is built on the device from the curves and the measured skin colour (a tensor: no
host round trip), and applied by indexing; the blur is the host's normalised blur at an eighth of
the frame with OpenCV's own Gaussian kernel (taken once from ``cv2.getGaussianKernel``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from livefilter.scene.background import BLUR_FACTOR, MAX_BLUR_SIGMA, BackgroundConfig, VIDEO_SUFFIXES, LoopingVideo, cover_resize, read_image
from livefilter.scene.grade import KNOTS, SKIN_SIGMA, Grade
from livefilter.scene.device_segment import area_resize
from livefilter.scene.segment import LowRes
from pathlib import Path


def gaussian_kernel(sigma: float, device) -> torch.Tensor:
    """OpenCV's float Gaussian kernel for ``GaussianBlur(..., (0, 0), sigma)`` on float32 maps."""
    import cv2

    ksize = int(round(sigma * 4 * 2 + 1)) | 1
    return torch.from_numpy(cv2.getGaussianKernel(ksize, sigma, cv2.CV_32F)[:, 0].copy()).to(device)


def gaussian_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) separable blur with reflect-101 borders (OpenCV's default)."""
    c, r = x.shape[1], kernel.numel() // 2
    kx = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), kx, groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), ky, groups=c)


def device_grade_table(grade: Grade, strength: float, skin_rgb: torch.Tensor | None, device) -> torch.Tensor:
    """(256, 3) uint8 table: :func:`livefilter.scene.grade.grade_table` on the device."""
    x = torch.arange(256, device=device, dtype=torch.float64)
    knots = torch.tensor(grade.curves, device=device, dtype=torch.float64)  # (3, KNOTS)
    step = 255.0 / (KNOTS - 1)

    def interp(c: int, at: torch.Tensor) -> torch.Tensor:
        pos = (at / step).clamp(0, KNOTS - 1)
        lo = pos.floor().clamp(max=KNOTS - 2).long()
        t = pos - lo
        return knots[c, lo] * (1 - t) + knots[c, lo + 1] * t

    cols = []
    for c in range(3):
        curve = interp(c, x)
        if grade.keep_skin and skin_rgb is not None:
            k = skin_rgb[c].to(torch.float64)
            dev = interp(c, k.reshape(1))[0] - k
            curve = curve - dev * torch.exp(-0.5 * ((x - k) / SKIN_SIGMA) ** 2)
            curve = torch.cummax(curve.clamp(0, 255), 0).values
        cols.append((x + strength * (curve - x)).round().clamp(0, 255))
    return torch.stack(cols, 1).to(torch.uint8)


def apply_table(frame: torch.Tensor, table: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``cv2.LUT`` on an (H, W, 3) uint8 tensor, per channel, into ``out``."""
    idx = frame.long()
    for c in range(3):
        out[..., c] = table[idx[..., c], c]
    return out


class DeviceBackground:
    """:class:`livefilter.scene.background.BackgroundStage` on the device."""

    def __init__(self, config: BackgroundConfig, device) -> None:
        config.validate()
        self.config = config
        self.device = torch.device(device)
        self._size: tuple[int, int] | None = None
        self._video = None
        self._image = None
        if config.mode == "replace":
            if Path(config.source).suffix.lower() in VIDEO_SUFFIXES:
                self._video = LoopingVideo(Path(config.source))
            else:
                self._image = read_image(Path(config.source))
        sigma = 0.25 + MAX_BLUR_SIGMA * float(config.blur)
        self._kernel = gaussian_kernel(sigma, self.device)

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

    def _prepare(self, h: int, w: int) -> None:
        self.low = (max(8, h // BLUR_FACTOR), max(8, w // BLUR_FACTOR))
        self.layer_buf = torch.zeros((h, w, 3), dtype=torch.uint8, device=self.device)
        self._made = False
        self._replacement = (torch.from_numpy(cover_resize(self._image, h, w)).to(self.device)
                             if self._image is not None else None)
        self._size = (h, w)

    def layer(self, frame: torch.Tensor, mask: torch.Tensor, table: torch.Tensor | None = None,
              low: LowRes | None = None) -> torch.Tensor:
        """As the host's: from the segmenter's low-resolution products when given, and a blur is kept
        on the frames the network skipped."""
        h, w = frame.shape[:2]
        if self._size != (h, w):
            self._prepare(h, w)
        mode = self.config.mode
        keep = mode == "blur" and low is not None and self._made
        if keep and low.fresh is False:
            return self.layer_buf
        if mode in ("keep", "replace"):
            if mode == "keep":
                src = frame
            elif self._video is None:
                src = self._replacement
            else:  # a video background is decoded on the host: one upload per frame
                src = torch.from_numpy(np.ascontiguousarray(self._video.next(h, w))).to(self.device, non_blocking=True)
            return src if table is None else apply_table(src, table, self.layer_buf)
        source = frame.permute(2, 0, 1).unsqueeze(0).float() if low is None else low.quarter
        small = area_resize(source, self.low).round_()
        weight = (1.0 - area_resize((mask if low is None else low.coarse)[None, None], self.low)).clamp_(min=0.0)
        num = gaussian_blur(small * weight, self._kernel)
        den = gaussian_blur(weight, self._kernel).clamp_(min=1e-3)
        small_out = (num / den).clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0)
        if table is not None:
            small_out = apply_table(small_out, table, torch.empty_like(small_out))
        up = F.interpolate(small_out.permute(2, 0, 1).unsqueeze(0).float(), size=(h, w), mode="bilinear",
                           align_corners=False)
        made = up.round_().clamp_(0, 255)[0].permute(1, 2, 0)
        if keep and isinstance(low.fresh, torch.Tensor):  # decided on the device: kept where the host keeps it
            made = torch.where(low.fresh, made, self.layer_buf.float())
        self.layer_buf.copy_(made)
        self._made = True
        return self.layer_buf


def composite(person: torch.Tensor, background: torch.Tensor, mask: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out = mask * person + (1 - mask) * background`` on (H, W, 3) uint8 tensors."""
    m = mask.unsqueeze(-1)
    blended = background.float() + m * (person.float() - background.float())
    return out.copy_(blended.round_().clamp_(0, 255))
