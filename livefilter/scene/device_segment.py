"""Person segmentation on the device (torch): the twin of :mod:`livefilter.scene.segment`.

The same ONNX model run by :mod:`livefilter.translate.onnx_torch` on the pipeline's device, the same
motion-adaptive smoothing and the same fast guided filter, on an (H, W, 3) uint8 frame tensor that
never leaves the device (no host round trip: every step is a tensor op into preallocated buffers
where torch offers ``out=``). Box filters are ``avg_pool2d`` over a reflect-padded map (OpenCV's
``BORDER_REFLECT_101``, as the host uses); area resizes at integer factors are average pools.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from livefilter.infra.onnx_session import model_path
from livefilter.scene.segment import CHANGE_RERUN, MOTION_GAIN, SEGMENTATION_MODELS, LowRes, SegmentConfig, choose_model, halvings

GRAY = (0.299, 0.587, 0.114)  # OpenCV's RGB2GRAY weights


_AREA: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def area_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) float resized exactly like ``cv2.INTER_AREA``, at any factor: OpenCV's area
    resize is separable, so its row and column weights are read once from ``cv2.resize`` of identity
    matrices and applied as two matrix products (``A_y @ x @ A_x^T``) on the device."""
    import cv2
    import numpy as np

    h, w = x.shape[-2:]
    key = (h, w, size, x.device, x.dtype)
    if key not in _AREA:
        ay = cv2.resize(np.eye(h, dtype=np.float32), (h, size[0]), interpolation=cv2.INTER_AREA)  # (size_h, h)
        ax = cv2.resize(np.eye(w, dtype=np.float32), (size[1], w), interpolation=cv2.INTER_AREA)  # (w, size_w)
        _AREA[key] = (torch.from_numpy(ay).to(x.device, x.dtype), torch.from_numpy(ax).to(x.device, x.dtype))
    ay, ax = _AREA[key]
    return torch.matmul(torch.matmul(ay, x), ax)


def box(x: torch.Tensor, k: int) -> torch.Tensor:
    r = k // 2
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="reflect"), k, stride=1)


def gray_u8(frame_chw: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) float 0..255 -> (1, 1, H, W) luma rounded like OpenCV's uint8 conversion."""
    w = frame_chw.new_tensor(GRAY).view(1, 3, 1, 1)
    return (frame_chw * w).sum(1, keepdim=True).round()


class DeviceMaskSmoother:
    """:class:`livefilter.scene.segment.MaskSmoother` on tensors."""

    def __init__(self, shape: tuple[int, int], smoothing: float, device, dtype=torch.float32) -> None:
        self.a_min = 1.0 - 0.85 * smoothing
        self.k = MOTION_GAIN
        self.state = torch.zeros(shape, device=device, dtype=dtype)
        self.primed = False
        self.gain: torch.Tensor | None = None

    def reset(self) -> None:
        self.primed = False

    def update(self, p: torch.Tensor, fresh: torch.Tensor | None = None) -> torch.Tensor:
        """``fresh``: a 0-d bool tensor, when whether ``p`` is new is only known on the device (it is
        then applied where the host would skip the update: no host round trip)."""
        if not self.primed or self.a_min >= 1.0:
            self.state.copy_(p if fresh is None else torch.where(fresh, p, self.state))
            self.primed = True
            self.gain = None
            return self.state
        diff = p - self.state
        gain = (diff.abs() * self.k + self.a_min).clamp_(max=1.0)
        if fresh is None:
            self.gain = gain
            self.state.add_(diff * gain)
        else:  # a skipped update keeps the last gain (None passes through: a gain of 1)
            self.gain = torch.where(fresh, gain, self.gain if self.gain is not None else torch.ones_like(gain))
            self.state.add_(diff * gain * fresh)
        return self.state


class DevicePersonSegmenter:
    """The person's soft mask (H, W) float in [0, 1] of an (H, W, 3) uint8 RGB device frame."""

    def __init__(self, config: SegmentConfig | None, device: str | torch.device) -> None:
        from livefilter.translate.onnx_torch import build_module

        self.config = config or SegmentConfig()
        self.config.validate()
        self.device = torch.device(device)
        self._build = build_module
        self._nets: dict[str, torch.nn.Module] = {}
        self._size: tuple[int, int] | None = None
        self._count = 0
        self.raw: torch.Tensor | None = None
        self.low: LowRes | None = None  # as the host's, with tensors

    def reset(self) -> None:
        self._count = 0
        if self._size is not None:
            self._smoother.reset()
            self._prev = None

    def _net(self, name: str) -> torch.nn.Module:
        if name not in self._nets:
            self._nets[name] = self._build(str(model_path(SEGMENTATION_MODELS[name][0])), device=str(self.device))
        return self._nets[name]

    def _prepare(self, h: int, w: int) -> None:
        self.model_name = choose_model(self.config, h, w)
        self.net_size = SEGMENTATION_MODELS[self.model_name][1]
        self._smoother = DeviceMaskSmoother(self.net_size, self.config.smoothing, self.device)
        self.low_size = (max(8, h // 4), max(8, w // 4))
        self.half = halvings(h, w)
        r = max(1, round(self.config.radius * h / 720 / 4))
        self.k = 2 * r + 1
        self._prev: torch.Tensor | None = None  # the last refined mask (the host's alternating buffer)
        self._last_quarter: torch.Tensor | None = None  # the quarter the network last ran on
        self._size = (h, w)

    def _downscale(self, frame: torch.Tensor) -> None:
        h, w = frame.shape[:2]
        if self._size != (h, w):
            self._prepare(h, w)
        x = frame.permute(2, 0, 1).unsqueeze(0).float()
        if self.half is not None:  # as the host: two exact 2x area halvings (OpenCV rounds halves up)
            self.half_frame = F.avg_pool2d(x, 2).add_(0.5).floor_()
            self.quarter = F.avg_pool2d(self.half_frame, 2).add_(0.5).floor_()
        else:
            self.quarter = area_resize(x, self.low_size).round_()

    @torch.no_grad()
    def infer(self, frame: torch.Tensor) -> torch.Tensor:
        self._downscale(frame)  # as the host: the quarter feeds the network, the guided filter and the blur
        small = area_resize(self.quarter, self.net_size).round_().div_(255.0)
        self.raw = self._net(self.model_name)(small)[0, 0]
        return self.raw

    @torch.no_grad()
    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        h, w = frame.shape[:2]
        fresh = self._size != (h, w) or self._count % self.config.network_every == 0 or not self._smoother.primed
        self._count += 1
        raw = self.infer(frame)
        if fresh:
            smooth = self._smoother.update(raw)
            self._last_quarter = self.quarter.clone()
        else:
            # the host skips the network unless the frame changed a lot; that decision is a device value
            # here, so the network runs on every frame (cheap on a GPU) and its output is taken where
            # the host's would be: the same masks, no host round trip
            change = (self.quarter - self._last_quarter).abs_().mean()
            fresh = change > CHANGE_RERUN
            smooth = self._smoother.update(raw, fresh)
            self._last_quarter = torch.where(fresh, self.quarter, self._last_quarter)
        self.low = LowRes(self.quarter, smooth, fresh)  # device layout: (1, 3, h, w) float quarter; fresh may be a tensor
        if not self.config.refine:
            return F.interpolate(smooth[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        at_half = self.config.refine_scale == 2 and self.half is not None
        x = self.half_frame if at_half else frame.permute(2, 0, 1).unsqueeze(0).float()
        gh, gw = x.shape[-2:]  # as the host: the guided filter's output at half size, then bilinear
        gray = gray_u8(x)
        i = gray_u8(self.quarter).div_(255.0)
        p = F.interpolate(smooth[None, None], size=self.low_size, mode="bilinear", align_corners=False)
        mi, mp = box(i, self.k), box(p, self.k)
        cov = box(i * p, self.k) - mi * mp
        var = box(i * i, self.k) - mi * mi
        a = cov / (var + self.config.eps)
        b = mp - a * mi
        a, b = box(a, self.k), box(b, self.k)
        a = F.interpolate(a, size=(gh, gw), mode="bilinear", align_corners=False)
        b = F.interpolate(b, size=(gh, gw), mode="bilinear", align_corners=False)
        out = (a * gray.div_(255.0) + b).clamp_(0.0, 1.0)[0, 0]
        gain = self._smoother.gain
        if gain is not None and self._prev is not None:  # as the host: blended with the last mask by the gain
            g = F.interpolate(gain[None, None], size=(gh, gw), mode="bilinear", align_corners=False)[0, 0]
            out = self._prev + g * (out - self._prev)
        self._prev = out
        if at_half:
            return F.interpolate(out[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        return out
