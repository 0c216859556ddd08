"""Frame-sized elementwise chains of the compositor, fused into single kernels by torch.compile.

Eagerly, the RGB -> I420 / NV12 conversion is about twenty full-frame kernels, each reading and
writing the whole frame. Compiled (Triton on CUDA, C++/OpenMP on the CPU) it is one or two; the
planes are then copied into the compositor's preallocated buffer (compiled code that writes into
slices of an input was several times slower than this on the CPU). ``livefilter bench`` measures
eager against fused (``fusion`` in its results).

The composite itself runs only over the rectangle around the faces, whose size changes every frame
(a compiled kernel would be recompiled for new sizes), so it stays eager there; its full-frame
form serves when the compositor has no uint8 copy of the frame.

Compilation happens on the first frame of each resolution (seconds; inductor caches the kernels
on disk for later runs). Where it cannot work (no compiler, an unsupported torch build) the eager
functions run instead, with one warning.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)

# BT.601 limited range, as OpenCV's RGB -> YUV_I420 and what v4l2loopback consumers and OBS expect
_Y = (0.257, 0.504, 0.098, 16.0)
_U = (-0.148, -0.291, 0.439, 128.0)
_V = (0.439, -0.368, -0.071, 128.0)


def composite(frame_f, back):
    """round(clamp(frame + sum of the faces' warped deltas)) as an (H, W, 3) uint8 tensor.

    ``frame_f`` is (1, 3, H, W) float, ``back`` (N, 3, H, W): the inverse-warped deltas of N faces.
    """
    import torch

    x = (frame_f[0] + back.sum(0)).clamp(0, 255).round().to(torch.uint8)
    return x.permute(1, 2, 0).contiguous()


def yuv420_planes(rgb):
    """(Y (H, W), U (H/2, W/2), V (H/2, W/2)) uint8 planes of an (H, W, 3) uint8 RGB tensor."""
    import torch
    import torch.nn.functional as F

    x = rgb.permute(2, 0, 1).float()
    y = _Y[0] * x[0] + _Y[1] * x[1] + _Y[2] * x[2] + _Y[3]
    q = F.avg_pool2d(x[None], 2)[0]  # chroma of each 2x2 block from its mean colour, as OpenCV
    u = _U[0] * q[0] + _U[1] * q[1] + _U[2] * q[2] + _U[3]
    v = _V[0] * q[0] + _V[1] * q[1] + _V[2] * q[2] + _V[3]

    def u8(t):
        return t.round().clamp(0, 255).to(torch.uint8)

    return u8(y), u8(u), u8(v)


def composite_into(out, frame_f, back, fuser: "Fuser | None" = None) -> None:
    """``out`` (H, W, 3) uint8 <- :func:`composite` (fused when ``fuser`` says so)."""
    out.copy_((fuser or _EAGER)(composite, frame_f, back))


def planar_into(out, rgb, nv12: bool, fuser: "Fuser | None" = None) -> None:
    """``out`` (H*3/2, W) uint8 <- the I420 (or NV12: interleaved U, V) frame of ``rgb``."""
    import torch

    y, u, v = (fuser or _EAGER)(yuv420_planes, rgb)
    h = rgb.shape[0]
    out[:h].copy_(y)
    chroma = out[h:].view(-1)
    n = u.numel()
    if nv12:
        chroma.view(n, 2).copy_(torch.stack([u.view(-1), v.view(-1)], -1))
    else:
        chroma[:n].copy_(u.view(-1))
        chroma[n:].copy_(v.view(-1))


class Fuser:
    """Runs a function compiled (``fuse=True``) or as is; a compile failure falls back once, loudly."""

    _compiled: dict[Callable, Callable] = {}
    _broken: set[Callable] = set()
    _lock = threading.Lock()

    def __init__(self, fuse: bool) -> None:
        self.fuse = fuse

    def __call__(self, fn: Callable, *args, **kwargs):
        if not self.fuse or fn in self._broken:
            return fn(*args, **kwargs)
        compiled = self._get(fn)
        try:
            return compiled(*args, **kwargs)
        except Exception as e:  # the compiler's failure is not the frame's: run it eagerly
            with self._lock:
                self._broken.add(fn)
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("kernel fusion unavailable for %s (%s: %s); running it unfused", fn.__name__,
                        type(e).__name__, first[:200])
            return fn(*args, **kwargs)

    def _get(self, fn: Callable) -> Callable:
        with self._lock:
            compiled = self._compiled.get(fn)
            if compiled is None:
                import torch

                log.info("compiling the fused %s kernel (first frame of a new size; cached afterwards)", fn.__name__)
                compiled = torch.compile(fn, dynamic=False, fullgraph=True)
                self._compiled[fn] = compiled
            return compiled


_EAGER = Fuser(False)
