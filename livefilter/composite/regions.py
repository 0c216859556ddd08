"""Makeup regions of a face from its FaceMesh landmarks, as soft masks in aligned-crop space.

Makeup lives in regions: lip colour, eye shadow above the upper lid, a liner on the lash line,
brows, blush on the cheek apples, contour under the cheekbones, highlight on the high planes and
foundation on the skin. Looks are trained, created and measured per region, and all three use this
one module, so a look's "lips" are the same pixels in training, in ``looks create`` and in
``livefilter eval``.

Everything here is NumPy + OpenCV (no torch): the runtime's look creation needs it too. Polygons are
rasterised once per face at the crop size and feathered with a Gaussian whose width scales with the
crop, so masks at 128 px and 256 px describe the same regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np

from livefilter.detect.topology import (BROW_LOWER, BROWS, CHEEK_APPLE, CHEEKBONE_TOP, CONTOUR_LINE, FACE_OVAL,
                                        LIPS, LIPS_INNER, LOWER_LID, NOSE_BRIDGE, UPPER_LID)

RegionName = Literal["lips", "eyeshadow", "eyeliner", "brows", "blush", "contour", "highlight", "skin", "face"]
REGION_NAMES: tuple[RegionName, ...] = get_args(RegionName)
# The user-facing groups (``looks create --regions``, the look.json ``regions`` field).
RegionGroup = Literal["lips", "eyes", "brows", "cheeks", "skin"]
REGION_GROUP_NAMES: tuple[RegionGroup, ...] = get_args(RegionGroup)
REGION_GROUPS: dict[RegionGroup, tuple[RegionName, ...]] = {
    "lips": ("lips",),
    "eyes": ("eyeshadow", "eyeliner"),
    "brows": ("brows",),
    "cheeks": ("blush", "contour", "highlight"),
    "skin": ("skin",),
}
# Measurement regions (``livefilter eval``): what a viewer calls lips / eyelids / cheeks / skin.
MeasureName = Literal["lips", "eyelids", "cheeks", "skin", "brows"]
MEASURE_NAMES: tuple[MeasureName, ...] = get_args(MeasureName)


def resample(line: np.ndarray, n: int) -> np.ndarray:
    """A polyline's (K, 2) points resampled to ``n`` points evenly spaced in index (so a brow's edge can be
    paired point for point with the lid below it)."""
    t, src = np.linspace(0, 1, n), np.linspace(0, 1, len(line))
    return np.stack([np.interp(t, src, line[:, k]) for k in (0, 1)], 1)


def _poly(shape: int, pts: np.ndarray, value: float = 1.0) -> np.ndarray:
    m = np.zeros((shape, shape), np.float32)
    cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], value, cv2.LINE_AA, 4)
    return m


def _blur(m: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(m, (0, 0), sigma) if sigma > 0 else m


@dataclass(frozen=True)
class FaceRegions:
    """Soft region masks (float32 in [0, 1], each (S, S)) of one aligned face."""

    masks: dict[RegionName, np.ndarray]
    measure: dict[MeasureName, np.ndarray]  # hard 0/1 masks for measuring

    def stack(self, names: tuple[RegionName, ...] = REGION_NAMES) -> np.ndarray:
        return np.stack([self.masks[n] for n in names])


def face_regions(pts: np.ndarray, size: int) -> FaceRegions:
    """All makeup and measurement regions of one face; ``pts`` are its 468 landmarks in crop pixels."""
    pts = np.asarray(pts, np.float32)[:, :2]
    u = size / 256.0  # every width below is tuned at 256 px and scales with the crop
    oval = _poly(size, cv2.convexHull(pts[list(FACE_OVAL)])[:, 0])
    oval_in = cv2.erode(oval, np.ones((3, 3), np.uint8), iterations=max(1, round(4 * u)))
    lips_outer = _poly(size, pts[list(LIPS)])
    mouth = _poly(size, pts[list(LIPS_INNER)])
    lips = np.clip(lips_outer - mouth, 0, 1)
    eyes = np.zeros((size, size), np.float32)
    shadow = np.zeros_like(eyes)
    liner = np.zeros_like(eyes)
    brows = np.zeros_like(eyes)
    for side in (0, 1):
        lid, low, brow_low = pts[list(UPPER_LID[side])], pts[list(LOWER_LID[side])], pts[list(BROW_LOWER[side])]
        eye = _poly(size, np.concatenate([lid, low[::-1]]))
        eyes = np.maximum(eyes, eye)
        # Eye-shadow band: between the upper lid and 80 % of the way to the brow, densest at the lid.
        inner, outer = lid[-1], lid[0]
        brow_line = resample(brow_low, len(lid))
        top = lid + 0.8 * (brow_line - lid)
        band = _poly(size, np.concatenate([lid, top[::-1]]))
        gap = float(np.median(np.linalg.norm(brow_line - lid, axis=1))) + 1e-3
        dist = cv2.distanceTransform((1 - eye).astype(np.uint8), cv2.DIST_L2, 3)
        shadow = np.maximum(shadow, band * np.clip(1.15 - dist / gap, 0, 1))
        # Liner: a stroke along the lash line with a short wing past the outer corner.
        wing = outer + 0.18 * (outer - inner) + np.array([0, -0.05], np.float32) * np.linalg.norm(outer - inner)
        stroke = np.concatenate([wing[None], lid])
        line = np.zeros((size, size), np.float32)
        cv2.polylines(line, [np.round(stroke * 16).astype(np.int32)], False, 1.0, max(1, round(3.0 * u)),
                      cv2.LINE_AA, 4)
        liner = np.maximum(liner, line)
        brows = np.maximum(brows, _poly(size, pts[list(BROWS[side])]))
    eyes_grown = cv2.dilate(eyes, np.ones((3, 3), np.uint8), iterations=max(1, round(2 * u)))
    shadow = _blur(shadow * (1 - eyes_grown), 2.5 * u) * (1 - eyes)
    liner = _blur(liner, 0.8 * u) * (1 - cv2.erode(eyes, np.ones((3, 3), np.uint8), iterations=max(1, round(u))))
    brows = _blur(brows, 1.2 * u)

    face_w = float(np.linalg.norm(pts[234] - pts[454]))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    blush = np.zeros_like(eyes)
    contour = np.zeros_like(eyes)
    highlight = np.zeros_like(eyes)
    for side in (0, 1):
        c = pts[list(CHEEK_APPLE[side])].mean(0)
        r = 0.13 * face_w
        blush = np.maximum(blush, np.exp(-(((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * r * r))))
        line = pts[list(CONTOUR_LINE[side])]
        stroke = np.zeros((size, size), np.float32)
        cv2.polylines(stroke, [np.round(line * 16).astype(np.int32)], False, 1.0, max(1, round(0.07 * face_w)),
                      cv2.LINE_AA, 4)
        contour = np.maximum(contour, stroke)
        hl = np.zeros((size, size), np.float32)
        cv2.polylines(hl, [np.round(pts[list(CHEEKBONE_TOP[side])] * 16).astype(np.int32)], False, 1.0,
                      max(1, round(0.05 * face_w)), cv2.LINE_AA, 4)
        highlight = np.maximum(highlight, hl)
    bridge = np.zeros((size, size), np.float32)
    cv2.polylines(bridge, [np.round(pts[list(NOSE_BRIDGE)] * 16).astype(np.int32)], False, 1.0,
                  max(1, round(0.035 * face_w)), cv2.LINE_AA, 4)
    highlight = np.maximum(highlight, bridge)
    features = np.clip(lips_outer + eyes_grown + brows + mouth, 0, 1)
    features = cv2.dilate(features, np.ones((3, 3), np.uint8), iterations=max(1, round(3 * u)))
    keep = oval_in * (1 - features)
    blush = blush * keep
    contour = _blur(contour, 0.04 * face_w) * keep
    highlight = _blur(highlight, 0.02 * face_w) * keep
    skin = _blur(keep, 2.0 * u) * oval_in
    lips = _blur(lips, 0.8 * u)

    hard = lambda m, t=0.5: (m > t).astype(np.uint8)  # noqa: E731
    skin_hard = hard(keep, 0.99) * (1 - hard(blush, 0.35)) * (1 - hard(contour, 0.3)) * (1 - hard(shadow, 0.02))
    measure: dict[MeasureName, np.ndarray] = {
        "lips": hard(lips),
        "eyelids": hard(shadow, 0.35),
        "cheeks": hard(blush, 0.5),
        "skin": skin_hard,
        "brows": hard(brows),
    }
    masks: dict[RegionName, np.ndarray] = {
        "lips": lips, "eyeshadow": shadow, "eyeliner": liner, "brows": brows, "blush": blush,
        "contour": contour, "highlight": highlight, "skin": skin, "face": _blur(oval_in, 2.0 * u) * oval_in,
    }
    return FaceRegions({k: np.clip(v, 0, 1).astype(np.float32) for k, v in masks.items()}, measure)


def batch_regions(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Soft masks (N, len(REGION_NAMES), S, S) float32 and hard measure masks (N, len(MEASURE_NAMES), S, S) uint8."""
    soft = np.zeros((len(landmarks), len(REGION_NAMES), size, size), np.float32)
    hard = np.zeros((len(landmarks), len(MEASURE_NAMES), size, size), np.uint8)
    for i, pts in enumerate(landmarks):  # one face at a time: polygons, not pixels, are looped
        r = face_regions(pts, size)
        soft[i] = r.stack()
        hard[i] = np.stack([r.measure[n] for n in MEASURE_NAMES])
    return soft, hard
