"""The shipped look family: which reference photos each look learns from, and how it wears them.

Each look's references are *chosen by measurement* from the makeup reference photos (no hand-picked
file names): the smokiest lids for ``glam``, the strongest lip colour for ``bold-lip``, the least
saturated lips for ``natural``, the pinkest (lowest lip hue angle) for ``soft-glow``; ``toon`` uses the
artistic style references. A :class:`~livefilter.looks.region_stats.Recipe` then says which regions the
look wears and how strongly, and the references' region colours (relative to their own skin, against
a plain-face baseline) become the look code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from livefilter.looks.code import LookCode
from livefilter.looks.region_stats import Recipe, encode_descriptors, robust_mean


@dataclass(frozen=True)
class LookDef:
    name: str
    title: str
    description: str
    recipe: Recipe
    refs: str  # "makeup" or "style"
    select: str  # how references are chosen from the pool (see ``select_refs``)
    default_strength: float = 0.9
    tweaks: dict = field(default_factory=dict)  # fixed code values that the recipe states outright
    finish: dict = field(default_factory=dict)  # the pack's skin finish (look.json "finish"; livefilter.finish)


FAMILY: tuple[LookDef, ...] = (
    LookDef("glam", "Glam", "Evening glam: deep red lips, smoky defined eyes with liner, darker brows, blush and contour.",
            Recipe(lips=1.0, eyes=1.0, liner=0.9, brows=0.7, blush=0.9, contour=0.8, gain=1.0),
            "makeup", "smoky", 0.9, {"shadow_dL": -32.0}),
    LookDef("natural", "Natural", "Everyday natural: evened skin, soft blush, tinted lips; eyes barely touched.",
            Recipe(lips=0.75, eyes=0.25, blush=0.8, skin_smooth=0.55, gain=1.3),
            "makeup", "nude", 1.0, {"lips_dL": -12.0, "lips_a": 36.0}, {"strength": 0.4, "under_eye": 0.2}),
    LookDef("bold-lip", "Bold lip", "Bold lip: saturated statement lip colour with crisp liner; skin left as it is.",
            Recipe(lips=1.0, eyes=0.35, liner=1.0, blush=0.0, gain=1.2),
            "makeup", "saturated", 0.9),
    LookDef("soft-glow", "Soft glow", "Soft glow: dewy smoothed skin with highlight, rosy pink lips and cheeks.",
            Recipe(lips=1.0, eyes=0.3, blush=1.0, highlight=1.0, skin_smooth=0.45, gain=1.0),
            "makeup", "pink", 1.0, {"blush_da": 14.0, "blush_db": -2.0, "lips_dL": -18.0},
            {"strength": 0.7, "under_eye": 0.4}),
    # The paint layer is the illustration pseudo-target (training.teacher.illustrate), which carries its own
    # ink lines and colour: no extra outline darkening, a little more saturation, no shadow on the lids.
    LookDef("toon", "Toon", "Illustrated portrait: flat colour areas, clean ink lines and simplified shading, from artistic style references.",
            Recipe(lips=0.5, eyes=0.0, blush=0.3, paint=1.0, gain=1.0),
            "style", "all", 0.85, {"paint_edges": 0.0, "paint_saturation": 0.15}),
)
LOOKS = {d.name: d for d in FAMILY}


def select_refs(how: str, desc: list[dict[str, float]]) -> np.ndarray:
    """Indices of the reference photos a look learns from: a third of the pool, by one measured trait."""
    n = len(desc)
    k = max(3, n // 3)
    chroma = np.array([np.hypot(d["lips_a"], d["lips_b"]) for d in desc])
    hue = np.array([np.degrees(np.arctan2(d["lips_b"], d["lips_a"])) for d in desc])
    lid = np.array([d["lid_L_rel"] for d in desc])
    lips_dark = np.array([d["lips_L_rel"] for d in desc])
    key = {
        "smoky": lid,  # darkest lids first
        "saturated": -chroma + 0.3 * lips_dark,  # strongest lip colour
        "nude": chroma,  # least saturated lips
        "pink": hue,  # bluest-red (pink) lips
        "all": np.zeros(n),
    }[how]
    if how == "all":
        return np.arange(n)
    key = np.where(np.isfinite(key), key, np.inf)
    return np.argsort(key, kind="stable")[:k]


def encode_look(d: LookDef, desc: list[dict[str, float]], base: dict[str, float]) -> tuple[LookCode, np.ndarray]:
    idx = select_refs(d.select, desc)
    code = encode_descriptors(robust_mean([desc[i] for i in idx]), base, d.recipe)
    if d.tweaks:
        code = replace(code, **d.tweaks).clipped()
    return code, idx

