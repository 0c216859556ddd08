"""Where the skin is, from one face's landmarks: the box the finish works on and its region maps.

Both versions of the finish use these maps (the device twin receives them in its parameter upload): OpenCV
rasterises a few polygons at the working resolution, where a 720p face is about :data:`WORK_FACE_W` px
across, so this costs little and loops over polygons, never pixels. The maps (float32, (h, w) each):

* ``skin``: the face oval without the eyes and lashes, brows, lips and nostrils, each grown by a margin;
  it rises from 0 over a ramp (:data:`RAMP` of the face width) away from the oval's edge and from every
  feature, so nothing changes at or near a feature (no seam at the face's edge either);
* ``sample``: the upper cheeks (0/1), whose colour statistics define this face's own skin (beard and
  stubble rarely reach them);
* ``under``: the under-eye zone (soft), lifted by the under-eye correction;
* ``around``: the skin below it (0/1): what the under-eye zone is lifted towards.

The skin likelihood that takes beard, stubble, hair, glasses and jewellery out of ``skin`` is pixel maths
and lives in each version (``host.py``, ``device.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.finish.settings import BOX_MARGIN, WORK_FACE_W
from livefilter.detect.topology import BROWS, CHEEK_APPLE, CHEEKBONE_TOP, FACE_OVAL, LIPS, LOWER_LID, NOSTRILS, UPPER_LID

RAMP = 0.04  # the skin map's rise away from the oval's edge and every feature, as a fraction of the face width
# margins around each feature, as fractions of the face width (lashes reach beyond the lid's landmarks)
EYE_MARGIN, BROW_MARGIN, LIP_MARGIN, NOSTRIL_MARGIN = 0.03, 0.02, 0.02, 0.015
OVAL_INSET = 0.02  # the oval's landmarks sit on the jaw line and the hairline: keep off them
UNDER_EYE = (0.08, 0.42)  # the under-eye zone: from this far below the lower lash line to this far (eye widths)
AROUND = (0.55, 0.8)  # the skin it is lifted towards, this far below the lash line (eye widths)
MAP_NAMES = ("skin", "sample", "under", "around")


@dataclass(frozen=True)
class FaceBox:
    """The frame box one face's finish works on and its working resolution.

    The box is brought to the working resolution in two steps: an ``INTER_AREA`` average over whole
    ``step`` x ``step`` blocks (OpenCV's fast integer path; a fractional area resize costs ten times more),
    then an ``INTER_LINEAR`` resize by the remaining factor, under 2."""

    x0: int
    y0: int
    x1: int
    y1: int
    work_w: int
    work_h: int
    face_w: float  # frame px
    step: int = 1  # the integer block average's factor (the box's sides are multiples of it)

    @classmethod
    def of(cls, landmarks: np.ndarray, width: int, height: int) -> "FaceBox | None":
        """The box around the face oval (with a margin), or None when it is (nearly) off the frame."""
        pts = np.asarray(landmarks, np.float32)[:, :2]
        face_w = float(np.linalg.norm(pts[234] - pts[454]))
        if not np.isfinite(pts).all() or face_w < 8:
            return None
        oval = pts[list(FACE_OVAL)]
        m = BOX_MARGIN * face_w
        x0, y0 = (int(max(np.floor(v - m), 0)) for v in oval.min(0))
        x1, y1 = int(min(np.ceil(oval[:, 0].max() + m), width)), int(min(np.ceil(oval[:, 1].max() + m), height))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        s = min(1.0, WORK_FACE_W / face_w)
        step = max(1, int(1.0 / s))
        x1, y1 = x0 + (x1 - x0) // step * step, y0 + (y1 - y0) // step * step
        return cls(x0, y0, x1, y1, max(4, round((x1 - x0) * s)), max(4, round((y1 - y0) * s)), face_w, step)

    @property
    def block_shape(self) -> tuple[int, int]:
        """(h, w) after the block average (the box's own when ``step`` is 1)."""
        h, w = self.shape
        return h // self.step, w // self.step

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def to_work(self, landmarks: np.ndarray) -> np.ndarray:
        """Frame landmarks -> working-resolution pixels (pixel centres as ``cv2.resize`` maps them)."""
        h, w = self.shape
        sx, sy = self.work_w / w, self.work_h / h
        pts = np.asarray(landmarks, np.float32)[:, :2] - (self.x0, self.y0)
        return np.stack([(pts[:, 0] + 0.5) * sx - 0.5, (pts[:, 1] + 0.5) * sy - 0.5], 1).astype(np.float32)


def _fill(buf: np.ndarray, *polys: np.ndarray) -> np.ndarray:
    buf[:] = 0
    cv2.fillPoly(buf, [np.round(p * 16).astype(np.int32) for p in polys], 1, cv2.LINE_8, 4)
    return buf


def _grow(m: np.ndarray, px: float) -> np.ndarray:
    r = int(round(px))
    return cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) if r > 0 else m


def _down(pts: np.ndarray) -> np.ndarray:
    v = pts[list(LIPS)].mean(0) - (pts[33] + pts[263]) / 2
    return (v / max(float(np.linalg.norm(v)), 1e-6)).astype(np.float32)


def face_maps(box: FaceBox, landmarks: np.ndarray, under_eye: bool = True) -> np.ndarray:
    """The (4, h, w) float32 maps (:data:`MAP_NAMES`) of one face at its box's working resolution
    (``under_eye`` False: the under-eye maps are left empty, the lift being off)."""
    pts = box.to_work(landmarks)
    h, w = box.work_h, box.work_w
    fw = float(np.linalg.norm(pts[234] - pts[454]))
    maps = np.zeros((len(MAP_NAMES), h, w), np.float32)
    a, b = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    not_skin = 1 - cv2.erode(_fill(a, cv2.convexHull(pts[list(FACE_OVAL)])[:, 0]), np.ones((3, 3), np.uint8),
                             iterations=max(1, round(OVAL_INSET * fw)))
    eyes = _fill(a, *(np.concatenate([pts[list(UPPER_LID[s])], pts[list(LOWER_LID[s])][::-1]]) for s in (0, 1)))
    not_skin |= _grow(eyes, EYE_MARGIN * fw)
    not_skin |= _grow(_fill(a, *(pts[list(BROWS[s])] for s in (0, 1))), BROW_MARGIN * fw)
    not_skin |= _grow(_fill(a, pts[list(LIPS)]), LIP_MARGIN * fw)
    not_skin |= _grow(_fill(a, cv2.convexHull(pts[list(NOSTRILS)])[:, 0]), NOSTRIL_MARGIN * fw)
    dist = cv2.distanceTransform(1 - not_skin, cv2.DIST_L2, 3)
    np.clip((dist - 1.0) / max(RAMP * fw, 1.0), 0, 1, out=maps[0])
    sample = _fill(b, *(cv2.convexHull(pts[list(CHEEK_APPLE[s] + CHEEKBONE_TOP[s])])[:, 0] for s in (0, 1)))
    maps[1] = sample * (maps[0] > 0.5)
    if under_eye:
        under_eye_maps(pts, fw, 1 - not_skin, maps[2:4])
    return maps


def under_eye_maps(pts: np.ndarray, fw: float, keep: np.ndarray, out: np.ndarray) -> None:
    """The under-eye zone (soft, within ``keep``) and the skin below it into ``out`` (2, h, w)."""
    h, w = keep.shape
    a = np.zeros((h, w), np.uint8)
    down = _down(pts)
    under, around = np.zeros_like(a), np.zeros_like(a)
    for s in (0, 1):
        low = pts[list(LOWER_LID[s])]
        ew = float(np.linalg.norm(low[0] - low[-1]))
        under |= _fill(a, np.concatenate([low + UNDER_EYE[0] * ew * down, (low + UNDER_EYE[1] * ew * down)[::-1]]))
        around |= _fill(a, np.concatenate([low + AROUND[0] * ew * down, (low + AROUND[1] * ew * down)[::-1]]))
    sigma = max(0.5, 0.015 * fw)
    out[0] = cv2.GaussianBlur(under.astype(np.float32), (0, 0), sigma) * keep
    out[1] = around * keep
