"""The skin finish on a torch device: the twin of :mod:`livefilter.finish.host`, with the same maths.

Geometry stays on the host, as for the makeup placement: the face box and its region maps
(:mod:`livefilter.finish.geometry`, a few polygons at the working resolution) and the resize matrices
are made there and copied to the device (host -> device only, asynchronously from the host's view;
nothing is read back). The pixel work runs on the device over each face's box of the output frame:

* OpenCV's ``INTER_AREA`` / ``INTER_LINEAR`` downscale and ``INTER_LINEAR`` upscale are linear and separable, so each is
  two small matrix products with the weights OpenCV itself uses (taken once per size from ``cv2.resize``
  of an identity matrix): the device resamples exactly as the host does;
* the box filters are ``avg_pool2d`` over a reflect-101 padding (OpenCV's default border);
* the guided filter, the skin likelihood, the shine and the under-eye lift follow ``host.py`` line by line.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from livefilter.finish.colour import YCC, YCC_INV
from livefilter.finish.geometry import FaceBox, face_maps
from livefilter.finish.host import MIN_SAMPLE, radius
from livefilter.finish.settings import (CHROMA_SD_FLOOR, CHROMA_Z, DARK_Z, GUIDE_EPS, GUIDE_RADIUS, LUMA_SD_FLOOR,
                                        SHINE_GAIN, SHINE_LEVEL, SHINE_RADIUS, TEXTURE_RATIO,
                                        FinishSettings)


@lru_cache(maxsize=64)
def resize_weights(n_in: int, n_out: int, interpolation: int) -> np.ndarray:
    """(n_out, n_in) float32: OpenCV's 1-D resampling weights (``out = W @ in`` along one axis)."""
    eye = np.eye(n_in, dtype=np.float32)
    return np.ascontiguousarray(cv2.resize(eye, (n_out, n_in), interpolation=interpolation).T)


def box(x, r: int):
    """Mean over a (2r+1)^2 window of (N, C, H, W) ``x``, reflect-101 border (``cv2.boxFilter``'s default)."""
    import torch.nn.functional as F

    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="reflect"), 2 * r + 1, stride=1)


def _ramp_down(x, start: float, width: float):
    """clip(1 - (x - start) / width, 0, 1)."""
    return (1.0 - (x - start) / width).clamp_(0.0, 1.0)


def _ramp_up(x, start: float, width: float):
    """clip((x - start) / width, 0, 1)."""
    return ((x - start) / width).clamp_(0.0, 1.0)


def guided_luma(y, r: int):
    """:func:`livefilter.finish.host.guided_luma` on (1, 1, h, w) luma: the smooth luma and the local spread."""
    mean, corr = box(y, r), box(y * y, r)
    var = (corr - mean * mean).clamp_min_(0.0)
    a = var / (var + GUIDE_EPS)
    b = mean - a * mean
    return box(a, r) * y + box(b, r), var.sqrt_()


def skin_likelihood(ycc, spread, maps, has_sample: bool):
    """:func:`livefilter.finish.host.skin_likelihood`: (1, 1, h, w) in 0..1 from (1, 3, h, w) Y, Cb, Cr."""
    import torch

    sample = maps[1] if has_sample else (maps[0] > 0.5).to(ycc.dtype)
    n = sample.sum().clamp_min(1.0)
    mean = (ycc[0] * sample).sum((1, 2)) / n
    sd = ((ycc[0] * ycc[0] * sample).sum((1, 2)) / n - mean * mean).clamp_min(0.0).sqrt()
    sd = torch.maximum(sd, sd.new_tensor((LUMA_SD_FLOOR, CHROMA_SD_FLOOR, CHROMA_SD_FLOOR)))
    if has_sample:
        cheek_spread = ((spread[0, 0] * maps[1]).sum() / maps[1].sum()).clamp_min(1.0)
    else:
        cheek_spread = spread.median().clamp_min(1.0)
    z = torch.hypot((ycc[:, 1:2] - mean[1]) / sd[1], (ycc[:, 2:3] - mean[2]) / sd[2])
    p = _ramp_down(z, CHROMA_Z[0], CHROMA_Z[1])
    dark = _ramp_up((mean[0] - ycc[:, 0:1]) / sd[0], DARK_Z[0], DARK_Z[1])
    tex = _ramp_up(spread / cheek_spread, TEXTURE_RATIO[0], TEXTURE_RATIO[1])
    return p - p * (dark * tex)


def finish_delta(x, maps, face_w: float, settings: FinishSettings, has_sample: bool, has_around: bool):
    """:func:`livefilter.finish.host.finish_delta` on (1, 3, h, w) float RGB: the (1, 3, h, w) change."""
    import torch

    r = radius(face_w, GUIDE_RADIUS)
    ycc_m = torch.as_tensor(YCC, device=x.device, dtype=x.dtype)
    ycc = torch.einsum("cd,ndhw->nchw", ycc_m, x)
    y = ycc[:, 0:1]
    qy, spread = guided_luma(y, r)
    weight = skin_likelihood(ycc, spread, maps, has_sample) * maps[0]
    delta = box(ycc, r) - ycc
    around = box(qy, radius(face_w, SHINE_RADIUS))
    shine = (qy - around - SHINE_LEVEL).clamp_min_(0.0)
    dy = qy - y - SHINE_GAIN * shine
    dy = dy - (dy * weight).sum() / weight.sum().clamp_min(1.0)
    delta = torch.cat([dy, delta[:, 1:]], 1) * (settings.strength * weight)
    if settings.under_eye > 0 and has_around:
        target = (qy[0, 0] * maps[3]).sum() / maps[3].sum()
        lift = (target - qy).clamp_min_(0.0) * (settings.under_eye * maps[2])
        delta = torch.cat([delta[:, :1] + lift, delta[:, 1:]], 1)
    inv = torch.as_tensor(YCC_INV, device=x.device, dtype=x.dtype)
    return torch.einsum("cd,ndhw->nchw", inv, delta)


class DeviceSkinFinish:
    """The device skin finish: :meth:`apply` changes each face's skin in an (H, W, 3) uint8 frame tensor."""

    def __init__(self, device) -> None:
        self.device = device

    def _tensor(self, a: np.ndarray):
        import torch

        return torch.from_numpy(a).to(self.device, non_blocking=True)

    def apply(self, frame, landmarks: list[np.ndarray], settings: FinishSettings) -> int:
        """Finish every face (its (468, 2) frame landmarks) of ``frame`` in place; returns how many."""
        if not settings.active:
            return 0
        done = 0
        h, w = int(frame.shape[0]), int(frame.shape[1])
        for lm in landmarks:
            fbox = FaceBox.of(lm, w, h)
            if fbox is not None:
                self.face(frame, fbox, face_maps(fbox, lm, settings.under_eye > 0), settings)
                done += 1
        return done

    def face(self, frame, fbox: FaceBox, maps: np.ndarray, settings: FinishSettings) -> None:
        import torch

        bh, bw = fbox.shape
        region = frame[fbox.y0:fbox.y1, fbox.x0:fbox.x1]
        x = region.permute(2, 0, 1)[None].to(torch.float32)
        small = x
        if fbox.step > 1:  # the host's block average is to uint8
            mh, mw = fbox.block_shape
            a_y, a_x = (self._tensor(resize_weights(n, m, cv2.INTER_AREA)) for n, m in ((bh, mh), (bw, mw)))
            small = torch.round(a_y @ small @ a_x.T)
        if tuple(small.shape[2:]) != (fbox.work_h, fbox.work_w):
            l_y = self._tensor(resize_weights(small.shape[2], fbox.work_h, cv2.INTER_LINEAR))
            l_x = self._tensor(resize_weights(small.shape[3], fbox.work_w, cv2.INTER_LINEAR))
            small = l_y @ small @ l_x.T
        face_w = fbox.face_w * fbox.work_w / bw
        delta = finish_delta(small, self._tensor(maps), face_w, settings, float(maps[1].sum()) >= MIN_SAMPLE,
                             float(maps[3].sum()) >= MIN_SAMPLE)
        up_y = self._tensor(resize_weights(fbox.work_h, bh, cv2.INTER_LINEAR))
        up_x = self._tensor(resize_weights(fbox.work_w, bw, cv2.INTER_LINEAR))
        out = torch.round(x + up_y @ delta @ up_x.T).clamp_(0, 255)
        region.copy_(out[0].permute(1, 2, 0).to(torch.uint8))
