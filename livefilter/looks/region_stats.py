"""Region colour statistics of aligned faces, and reference photos -> look code.

This is the measuring half of the look model: the same numbers describe a look's reference photos
(what the look should do), a styled face (what it did) and a plain population (what "no makeup"
looks like). Makeup is measured *relative to the person's own skin* (lid lightness minus skin
lightness, cheek redness minus skin redness ...), which is what makes a look transferable across
skin tones: a smoky eye is "12 L darker than your skin", not "L = 40".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from livefilter.looks.code import LookCode
from livefilter.composite.regions import MEASURE_NAMES, face_regions

STAT_REGIONS = ("lips", "eyelids", "cheeks", "skin", "brows")
BASELINE_PATH = Path(__file__).with_name("plain_baseline.json")


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 CIELAB (L 0..100, a/b about -128..127)."""
    flat = rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(rgb.shape)


@dataclass(frozen=True)
class RegionStats:
    """Mean Lab per measured region, (len(STAT_REGIONS), 3); NaN where a region has no pixels."""

    lab: np.ndarray

    def get(self, region: str) -> np.ndarray:
        return self.lab[STAT_REGIONS.index(region)]

    def relative(self) -> dict[str, float]:
        """Makeup descriptors relative to this face's own skin."""
        skin, lips, lids, cheeks, brows = (self.get(r) for r in ("skin", "lips", "eyelids", "cheeks", "brows"))
        return {
            "lips_L_rel": float(lips[0] - skin[0]), "lips_a": float(lips[1]), "lips_b": float(lips[2]),
            "lid_L_rel": float(lids[0] - skin[0]), "lid_a": float(lids[1]), "lid_b": float(lids[2]),
            "cheek_a_rel": float(cheeks[1] - skin[1]), "cheek_b_rel": float(cheeks[2] - skin[2]),
            "cheek_L_rel": float(cheeks[0] - skin[0]), "brow_L_rel": float(brows[0] - skin[0]),
            "skin_L": float(skin[0]), "skin_a": float(skin[1]), "skin_b": float(skin[2]),
        }


def measure_masks(landmarks: np.ndarray, size: int) -> dict[str, np.ndarray]:
    return face_regions(landmarks, size).measure  # type: ignore[return-value]


def region_stats(crop: np.ndarray, masks: dict[str, np.ndarray]) -> RegionStats:
    lab = to_lab(crop)
    out = np.full((len(STAT_REGIONS), 3), np.nan, np.float32)
    for i, r in enumerate(STAT_REGIONS):
        m = masks[r].astype(bool)
        if m.sum() >= 8:
            out[i] = lab[m].mean(0)
    return RegionStats(out)


def face_stats(crop: np.ndarray, landmarks: np.ndarray) -> RegionStats:
    return region_stats(crop, measure_masks(landmarks, crop.shape[0]))


def ita_degrees(skin_lab: np.ndarray) -> float:
    """Individual Typology Angle of a skin colour: > 41 light ... < -30 dark (Chardon et al. 1991)."""
    L, b = float(skin_lab[0]), float(skin_lab[2])
    return float(np.degrees(np.arctan2(L - 50.0, b)))


ITA_GROUPS = (("light", 41.0), ("intermediate", 28.0), ("tan", 10.0), ("brown", -30.0), ("dark", -1e9))


def ita_group(skin_lab: np.ndarray) -> str:
    """ITA group name; "grey" for monochrome photos (no skin chroma to measure a tone from)."""
    if not np.all(np.isfinite(skin_lab)) or np.hypot(skin_lab[1], skin_lab[2]) < 4.0:
        return "grey"
    ita = ita_degrees(skin_lab)
    return next(name for name, lo in ITA_GROUPS if ita > lo)


def robust_mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per-key median (photos that disagree, a bad crop, do not pull the look)."""
    keys = rows[0].keys()
    out = {}
    for k in keys:
        v = np.array([r[k] for r in rows], np.float64)
        v = v[np.isfinite(v)]
        out[k] = float(np.median(v)) if len(v) else float("nan")
    return out


def load_baseline() -> dict[str, float]:
    """Median descriptors of plain (no-makeup) faces, measured by the project on its training faces."""
    return json.loads(BASELINE_PATH.read_text())["descriptors"]


@dataclass(frozen=True)
class Recipe:
    """How strongly a look applies each region of its references (1 = as measured)."""

    lips: float = 1.0
    eyes: float = 1.0
    liner: float = 0.0
    brows: float = 0.0
    blush: float = 1.0
    contour: float = 0.0
    highlight: float = 0.0
    skin_smooth: float = 0.0
    paint: float = 0.0
    gain: float = 1.5  # exaggerates the measured offsets: references are photographed, looks are worn on camera


def encode_descriptors(ref: dict[str, float], base: dict[str, float], recipe: Recipe) -> LookCode:
    """Reference descriptors (medians over the photos) -> look code, against the plain baseline."""
    g = recipe.gain

    def off(key: str) -> float:
        v = ref[key] - base[key]
        return 0.0 if not np.isfinite(v) else float(v)

    lips_dL = min(0.0, g * off("lips_L_rel"))
    shadow_dL = g * off("lid_L_rel")
    code = LookCode(
        lips_opacity=recipe.lips, lips_a=ref["lips_a"], lips_b=ref["lips_b"], lips_dL=lips_dL,
        shadow_opacity=recipe.eyes, shadow_dL=shadow_dL if recipe.eyes else 0.0,
        shadow_a=ref["lid_a"], shadow_b=ref["lid_b"],
        liner_opacity=recipe.liner, liner_L=12.0,
        brow_opacity=recipe.brows, brow_dL=min(-4.0, g * off("brow_L_rel")) if recipe.brows else 0.0,
        blush_opacity=recipe.blush, blush_da=max(0.0, g * off("cheek_a_rel")) + 4.0 * recipe.blush,
        blush_db=g * off("cheek_b_rel"), blush_dL=min(0.0, g * off("cheek_L_rel")),
        contour_opacity=recipe.contour, contour_dL=-8.0 if recipe.contour else 0.0,
        highlight_opacity=recipe.highlight, highlight_dL=6.0 if recipe.highlight else 0.0,
        skin_opacity=1.0 if recipe.skin_smooth or recipe.paint else 0.0, skin_smooth=recipe.skin_smooth,
        skin_da=0.0, skin_db=0.0,
        paint=recipe.paint, paint_saturation=0.6 * recipe.paint, paint_edges=0.7 * recipe.paint,
    )
    # a region no reference photo showed (NaN chroma) keeps the neutral default colour
    default = LookCode()
    missing = {k: getattr(default, k) for k in ("lips_a", "lips_b", "shadow_a", "shadow_b")
               if not np.isfinite(getattr(code, k))}
    return replace(code, **missing).clipped()


def descriptors_of(crops: np.ndarray, landmarks: np.ndarray) -> list[dict[str, float]]:
    return [face_stats(c, p).relative() for c, p in zip(crops, landmarks)]


__all__ = ["MEASURE_NAMES", "Recipe", "RegionStats", "encode_descriptors", "face_stats", "ita_group",
           "load_baseline", "region_stats", "robust_mean", "to_lab"]
