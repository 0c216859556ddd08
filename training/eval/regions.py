"""Per-region colour change of a look, measured the way a viewer sees it.

For each face: mean CIELAB ΔE (CIE76, per pixel) and signed ΔL on lips, eyelids, cheeks, brows and
skin (the face oval without features, blush and contour: forehead, nose, mid and lower cheeks);
the distance of the output's region colours to the look's references (in the skin-relative
descriptors looks are made of, so a reference photographed on light skin is a fair target for dark
skin too); everything split by skin-tone group (ITA°).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livefilter.looks.region_stats import STAT_REGIONS, RegionStats, ita_group, region_stats, to_lab
from livefilter.composite.regions import MEASURE_NAMES, face_regions

# The descriptors a region's colour is compared to the references' in.
REFERENCE_KEYS = {
    "lips": ("lips_L_rel", "lips_a", "lips_b"),
    "eyelids": ("lid_L_rel", "lid_a", "lid_b"),
    "cheeks": ("cheek_L_rel", "cheek_a_rel", "cheek_b_rel"),
}
LIGHTER = ("light", "intermediate")
DARKER = ("tan", "brown", "dark")


@dataclass
class FaceChange:
    group: str  # ITA group of the input face
    delta_e: dict[str, float]
    delta_l: dict[str, float]
    before: RegionStats
    after: RegionStats


def face_change(before: np.ndarray, after: np.ndarray, landmarks: np.ndarray) -> FaceChange:
    masks = face_regions(landmarks, before.shape[0]).measure
    lab0, lab1 = to_lab(before), to_lab(after)
    d = lab1 - lab0
    de = np.sqrt((d ** 2).sum(-1))
    delta_e, delta_l = {}, {}
    for r in MEASURE_NAMES:
        m = masks[r].astype(bool)
        delta_e[r] = float(de[m].mean()) if m.sum() >= 8 else float("nan")
        delta_l[r] = float(d[..., 0][m].mean()) if m.sum() >= 8 else float("nan")
    s0, s1 = region_stats(before, masks), region_stats(after, masks)  # type: ignore[arg-type]
    return FaceChange(ita_group(s0.get("skin")), delta_e, delta_l, s0, s1)


def reference_distance(stats: list[RegionStats], ref: dict[str, float]) -> dict[str, float]:
    """Mean distance (over faces) of each region's descriptors to the references' medians."""
    out = {}
    for region, keys in REFERENCE_KEYS.items():
        target = np.array([ref[k] for k in keys])
        vals = [np.array([s.relative()[k] for k in keys]) for s in stats]
        dist = [float(np.linalg.norm(v - target)) for v in vals if np.all(np.isfinite(v))]
        out[region] = round(float(np.mean(dist)), 2) if dist else float("nan")
    return out


def _mean(xs: list[float]) -> float:
    v = np.array(xs, np.float64)
    v = v[np.isfinite(v)]
    return round(float(v.mean()), 2) if len(v) else float("nan")


def summarise(changes: list[FaceChange]) -> dict:
    """Region means over faces, and skin lightness change per skin-tone group."""
    res: dict = {"faces": len(changes)}
    for r in MEASURE_NAMES:
        res[r] = {"delta_e": _mean([c.delta_e[r] for c in changes]), "delta_l": _mean([c.delta_l[r] for c in changes])}
    res["skin"]["abs_delta_l"] = _mean([abs(c.delta_l["skin"]) for c in changes])
    groups: dict[str, dict] = {}
    for name, members in (("lighter", LIGHTER), ("darker", DARKER)):
        sel = [c for c in changes if c.group in members]
        groups[name] = {"faces": len(sel), "skin_delta_l": _mean([c.delta_l["skin"] for c in sel]),
                        "skin_abs_delta_l": _mean([abs(c.delta_l["skin"]) for c in sel]),
                        "lips_delta_e": _mean([c.delta_e["lips"] for c in sel])}
    for g in sorted({c.group for c in changes}):
        sel = [c for c in changes if c.group == g]
        groups.setdefault("ita", {})[g] = {"faces": len(sel), "skin_delta_l": _mean([c.delta_l["skin"] for c in sel])}
    res["skin_tone"] = groups
    return res


__all__ = ["STAT_REGIONS", "FaceChange", "face_change", "reference_distance", "summarise"]
