"""The skin finish on the host (NumPy/OpenCV); :mod:`livefilter.finish.device` is its torch twin.

Per face, on its box (:class:`~livefilter.finish.geometry.FaceBox`) at the working resolution (about
:data:`~livefilter.finish.settings.WORK_FACE_W` px across the face):

1. an edge-preserving smooth ``q`` of the skin: a self-guided filter per channel (He et al.; edges whose
   local spread is well above ``sqrt(GUIDE_EPS)`` levels keep their contrast, flat texture is averaged).
   OpenCV's ``ximgproc.guidedFilter`` is not in opencv-python-headless, so it is written here with
   ``cv2.boxFilter`` (four box filters on the working box; preallocated buffers);
2. shine: luma of ``q`` above the skin around it (a wider box) by more than ``SHINE_LEVEL`` levels is
   taken down by ``SHINE_GAIN`` of the excess, in grey (the skin's own hue is kept);
3. the skin likelihood (:func:`skin_likelihood`): this face's own cheek colour statistics (Y, Cb, Cr)
   exclude what is not skin within the oval: beard and stubble (darker than the cheeks and textured),
   hair, glasses frames and jewellery (a chroma unlike the cheeks');
4. the change ``strength * skin * likelihood * (q - x - shine)`` plus the optional under-eye lift is
   upsampled to the frame box and added to the full-resolution frame.

Only the band between the working resolution's detail and the guided filter's radius is smoothed: the
frame's finest detail above the working resolution (pores, the finest hair) is added back untouched by
construction, and the guided filter keeps local means, so the skin's lightness and colour stay its own.
"""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.finish.colour import YCC, YCC_INV
from livefilter.finish.geometry import FaceBox, face_maps
from livefilter.finish.settings import (CHROMA_SD_FLOOR, CHROMA_Z, DARK_Z, GUIDE_EPS, GUIDE_RADIUS, LUMA_SD_FLOOR,
                                        SHINE_GAIN, SHINE_LEVEL, SHINE_RADIUS, TEXTURE_RATIO,
                                        FinishSettings)

MIN_SAMPLE = 16  # working pixels of cheek the colour statistics need (fewer: the whole skin map is the sample)


def radius(face_w_work: float, share: float) -> int:
    return max(1, int(round(share * face_w_work)))


class Scratch:
    """Reused flat buffers handed out as views of the shape asked for (face boxes change size every frame)."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        n = int(np.prod(shape))
        buf = self._bufs.get(name)
        if buf is None or buf.size < n or buf.dtype != dtype:
            buf = self._bufs[name] = np.empty(max(n, 1), dtype)
        return buf[:n].reshape(shape)


def _box(src: np.ndarray, r: int, dst: np.ndarray) -> np.ndarray:
    return cv2.boxFilter(src, -1, (2 * r + 1, 2 * r + 1), dst=dst, borderType=cv2.BORDER_REFLECT_101)


def _clip01(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0, out=x)


def cheek_stats(ycc: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (floored) of (Y, Cb, Cr) over the cheek sample (a uint8 mask)."""
    mean, sd = cv2.meanStdDev(ycc, mask=sample)
    return (mean[:, 0].astype(np.float32),
            np.maximum(sd[:, 0], (LUMA_SD_FLOOR, CHROMA_SD_FLOOR, CHROMA_SD_FLOOR)).astype(np.float32))


def skin_likelihood(ycc: np.ndarray, spread: np.ndarray, maps: np.ndarray, ws: Scratch) -> np.ndarray:
    """(h, w) in 0..1: how much each working pixel looks like this face's cheeks. Hair (beard, stubble,
    hairline, brows beyond their landmarks) is darker than the cheeks *and* textured (``spread``: the
    local luma standard deviation); glasses frames, jewellery and anything else within the oval have a
    chroma unlike theirs."""
    has_sample = float(maps[1].sum()) >= MIN_SAMPLE
    sample = (maps[1] if has_sample else maps[0] > 0.5).astype(np.uint8)
    mean, sd = cheek_stats(ycc, sample)
    cheek_spread = max(cv2.mean(spread, mask=sample)[0] if has_sample else float(np.median(spread)), 1.0)
    p = ws.get("p", spread.shape)
    cb, cr = (ycc[..., 1] - mean[1]) / sd[1], (ycc[..., 2] - mean[2]) / sd[2]
    cv2.magnitude(cb, cr, p)
    p -= CHROMA_Z[0]
    _clip01(_neg_ramp(p, CHROMA_Z[1]))
    dark = _clip01(((mean[0] - ycc[..., 0]) / sd[0] - DARK_Z[0]) / DARK_Z[1])
    tex = _clip01((spread / cheek_spread - TEXTURE_RATIO[0]) / TEXTURE_RATIO[1])
    dark *= tex
    p -= p * dark
    return p


def _neg_ramp(p: np.ndarray, width: float) -> np.ndarray:
    """1 - p / width, in place."""
    p *= -1.0 / width
    p += 1.0
    return p


def guided_luma(y: np.ndarray, r: int, ws: Scratch) -> tuple[np.ndarray, np.ndarray]:
    """The self-guided filter of the luma (radius ``r``, :data:`GUIDE_EPS`) and its local standard deviation."""
    shape = y.shape
    mean, corr = _box(y, r, ws.get("mean", shape)), _box(y * y, r, ws.get("corr", shape))
    var = corr
    var -= mean * mean
    np.maximum(var, 0, out=var)
    a = var / (var + GUIDE_EPS)
    spread = np.sqrt(var, out=var)
    mean -= a * mean  # b
    q = _box(a, r, ws.get("A", shape))
    q *= y
    q += _box(mean, r, ws.get("B", shape))
    return q, spread


def finish_delta(x: np.ndarray, maps: np.ndarray, face_w: float, settings: FinishSettings,
                 ws: Scratch) -> np.ndarray:
    """The change (h, w, 3) float32 RGB of one face's working box ``x`` ((h, w, 3) float32, 0..255 RGB).

    Luma is smoothed by the guided filter (blemishes, uneven texture, shine); chroma (redness, blotches)
    by the box mean over the same window; both only where the skin maps and the likelihood allow."""
    h, w = x.shape[:2]
    r = radius(face_w, GUIDE_RADIUS)
    ycc = cv2.transform(x, YCC, dst=ws.get("ycc", (h, w, 3)))
    y = ws.get("y", (h, w))
    np.copyto(y, ycc[..., 0])
    qy, spread = guided_luma(y, r, ws)
    weight = skin_likelihood(ycc, spread, maps, ws)
    weight *= maps[0]
    delta = ws.get("delta", (h, w, 3))
    _box(ycc, r, delta)
    delta -= ycc  # the chroma's local mean, less the chroma (luma replaced below)
    around = _box(qy, radius(face_w, SHINE_RADIUS), ws.get("shine", (h, w)))
    np.subtract(qy, around, out=around)
    around -= SHINE_LEVEL
    np.maximum(around, 0, out=around)
    dy = delta[..., 0]
    np.subtract(qy, y, out=dy)
    dy -= SHINE_GAIN * around
    # the skin's mean lightness is kept: what the shine and the smoothing take off on average goes back
    dy -= float((dy * weight).sum()) / max(float(weight.sum()), 1.0)
    delta *= (settings.strength * weight)[..., None]
    if settings.under_eye > 0:
        dy += under_eye_lift(qy, maps, settings.under_eye)
    return cv2.transform(delta, YCC_INV, dst=ws.get("rgb", (h, w, 3)))


def under_eye_lift(qy: np.ndarray, maps: np.ndarray, amount: float) -> np.ndarray:
    """Dark circles lifted towards the skin below them: each under-eye pixel darker than that skin's mean
    luma gets ``amount`` of the gap back (luma only: the skin's own hue is kept, never greyed or whitened)."""
    around = maps[3]
    n = float(around.sum())
    if n < MIN_SAMPLE:
        return np.zeros_like(qy)
    target = float((qy * around).sum()) / n
    return np.maximum(target - qy, 0) * (amount * maps[2])


class SkinFinish:
    """The host skin finish: :meth:`apply` changes each face's skin in a frame, in place."""

    def __init__(self) -> None:
        self.ws = Scratch()

    def apply(self, frame: np.ndarray, landmarks: list[np.ndarray], settings: FinishSettings) -> int:
        """Finish every face (its (468, 2) frame landmarks) of the (H, W, 3) uint8 RGB ``frame`` in place;
        returns how many faces were changed."""
        if not settings.active:
            return 0
        done = 0
        for lm in landmarks:
            box = FaceBox.of(lm, frame.shape[1], frame.shape[0])
            if box is not None:
                self.face(frame, box, face_maps(box, lm, settings.under_eye > 0), settings)
                done += 1
        return done

    def face(self, frame: np.ndarray, box: FaceBox, maps: np.ndarray, settings: FinishSettings) -> None:
        ws = self.ws
        region = frame[box.y0:box.y1, box.x0:box.x1]
        small = region
        if box.step > 1:
            bh, bw = box.block_shape
            small = cv2.resize(region, (bw, bh), dst=ws.get("block", (bh, bw, 3), np.uint8), interpolation=cv2.INTER_AREA)
        x = ws.get("x", (box.work_h, box.work_w, 3))
        if small.shape[:2] != (box.work_h, box.work_w):  # in float: the device twin's weights exactly
            block = ws.get("block_f", small.shape)
            np.copyto(block, small, casting="unsafe")
            cv2.resize(block, (box.work_w, box.work_h), dst=x, interpolation=cv2.INTER_LINEAR)
        else:
            np.copyto(x, small, casting="unsafe")
        face_w = box.face_w * box.work_w / (box.x1 - box.x0)
        delta = finish_delta(x, maps, face_w, settings, ws)
        up = cv2.resize(delta, (box.x1 - box.x0, box.y1 - box.y0), dst=ws.get("up", region.shape),
                        interpolation=cv2.INTER_LINEAR)
        cv2.add(region, up, dst=region, dtype=cv2.CV_8U)
