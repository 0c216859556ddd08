"""A look's colour grade learnt from photos: their palette and tone against a neutral baseline.

Each photo is measured as per-channel quantiles of its pixels (downscaled, so a large photo does not
outweigh a small one); the photos' median quantiles are matched against the baseline's
(``grade_baseline.json``: the same quantiles of ordinary, ungraded photos). The curves that carry the
baseline's quantiles onto the photos' are the grade: a tone curve (all three channels moved alike)
plus a colour balance (the channels moved apart, per tone level: teal shadows, warm highlights).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from livefilter.errors import InputError
from livefilter.scene.grade import Grade, curves_from_quantiles

QUANTILES = (0.02, 0.08, 0.2, 0.35, 0.5, 0.65, 0.8, 0.92, 0.98)
MEASURE_PX = 256  # long side a photo is measured at
MIN_GRADE_PHOTOS = 3
BASELINE = Path(__file__).with_name("grade_baseline.json")
DEFAULT_GRADE_STRENGTH = 0.8


def photo_quantiles(rgb: np.ndarray) -> np.ndarray:
    """(3, Q) per-channel quantiles of an RGB uint8 photo, measured at :data:`MEASURE_PX`."""
    h, w = rgb.shape[:2]
    scale = MEASURE_PX / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1 else rgb
    return np.quantile(small.reshape(-1, 3).astype(np.float64), QUANTILES, axis=0).T


def load_grade_baseline(path: Path = BASELINE) -> np.ndarray:
    data = json.loads(Path(path).read_text())
    q = np.asarray(data["quantiles"], np.float64)
    if q.shape != (3, len(QUANTILES)) or tuple(data["levels"]) != QUANTILES:
        raise ValueError(f"{path.name}: quantiles must be 3 x {len(QUANTILES)} at levels {QUANTILES}")
    return q


def learn_grade(photos: list[np.ndarray], region: str = "frame", strength: float = DEFAULT_GRADE_STRENGTH,
                keep_skin: bool = True, baseline: np.ndarray | None = None) -> Grade:
    """The grade of a set of RGB photos (median of their quantiles against the baseline)."""
    return grade_from_quantiles([photo_quantiles(p) for p in photos], region, strength, keep_skin, baseline)


def grade_from_quantiles(quantiles: list[np.ndarray], region: str = "frame", strength: float = DEFAULT_GRADE_STRENGTH,
                         keep_skin: bool = True, baseline: np.ndarray | None = None) -> Grade:
    """The grade of photos measured by :func:`photo_quantiles` (their median against the baseline)."""
    if len(quantiles) < MIN_GRADE_PHOTOS:
        raise InputError(f"a grade needs at least {MIN_GRADE_PHOTOS} usable photos, got {len(quantiles)}")
    q = np.median(np.stack(quantiles), axis=0)
    base = load_grade_baseline() if baseline is None else baseline
    grade = Grade(curves=curves_from_quantiles(base, q), region=region, strength=strength, keep_skin=keep_skin)
    grade.validate()
    return grade


def describe_grade(grade: Grade) -> str:
    """One honest line: how much the grade lifts or lowers shadows, mid-tones and highlights per channel."""
    c = np.asarray(grade.curves) - np.linspace(0, 255, len(grade.curves[0]))
    parts = []
    for name, idx in (("shadows", 2), ("mid-tones", 4), ("highlights", 6)):
        r, g, b = c[:, idx]
        tone = (r + g + b) / 3
        warm = r - b
        parts.append(f"{name} {tone:+.0f} L, {'warmer' if warm > 0 else 'cooler'} {abs(warm):.0f}")
    return "; ".join(parts)
