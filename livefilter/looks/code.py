"""The look code: what the conditional student is told to paint, region by region.

A look code is a short vector of named, physical makeup parameters (CIELAB units, OpenCV's scale:
L 0..100, a/b about -128..127) rather than an opaque learned embedding. That makes a look
explainable (``glam`` is "lips a=48 b=22, lids 12 L darker than the person's skin ..."), lets a
look be *created* from photos by measuring them (``livefilter looks create``), and lets a user
restrict a look to some regions by zeroing the others' opacities. Colour shifts that would change a
person's skin tone are expressed *relative to that person's own skin* (the student only ever adds
offsets to what it sees), so one look keeps light and dark skin their own colour.

The student sees :meth:`LookCode.vector` (each field divided by its scale, so values are O(1)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Iterable

import numpy as np

from livefilter.errors import LookError
from livefilter.composite.placement import PlacementSpec
from livefilter.composite.regions import REGION_GROUPS, RegionGroup


@dataclass(frozen=True)
class Field:
    scale: float
    lo: float
    hi: float
    group: RegionGroup | None  # the region group whose opacity this is (None: not an opacity)


# name -> (scale, range, region group if it is that region's opacity)
SPEC: dict[str, Field] = {
    # lips: chroma is the lipstick's own (absolute), lightness is an offset (deep lips darken)
    "lips_opacity": Field(1.0, 0.0, 1.0, "lips"),
    "lips_a": Field(50.0, -10.0, 80.0, None),
    "lips_b": Field(50.0, -40.0, 60.0, None),
    "lips_dL": Field(20.0, -40.0, 10.0, None),
    # eye shadow on the lid band (a pigment: its lightness relative to the skin, as an offset from a plain
    # lid's), its chroma, and the lash-line liner
    "shadow_opacity": Field(1.0, 0.0, 1.0, "eyes"),
    "shadow_dL": Field(20.0, -40.0, 15.0, None),
    "shadow_a": Field(50.0, -30.0, 50.0, None),
    "shadow_b": Field(50.0, -50.0, 50.0, None),
    "liner_opacity": Field(1.0, 0.0, 1.0, "eyes"),
    "liner_L": Field(50.0, 0.0, 60.0, None),
    # brows: darker / fuller
    "brow_opacity": Field(1.0, 0.0, 1.0, "brows"),
    "brow_dL": Field(20.0, -40.0, 5.0, None),
    # cheeks: blush (offsets from the person's cheek), contour (darker hollow), highlight (lighter planes)
    "blush_opacity": Field(1.0, 0.0, 1.0, "cheeks"),
    "blush_da": Field(20.0, -5.0, 35.0, None),
    "blush_db": Field(20.0, -20.0, 20.0, None),
    "blush_dL": Field(10.0, -12.0, 4.0, None),
    "contour_opacity": Field(1.0, 0.0, 1.0, "cheeks"),
    "contour_dL": Field(10.0, -15.0, 0.0, None),
    "highlight_opacity": Field(1.0, 0.0, 1.0, "cheeks"),
    "highlight_dL": Field(10.0, 0.0, 12.0, None),
    # skin: foundation smoothing and a small warmth shift; the person's skin lightness is never a parameter
    "skin_opacity": Field(1.0, 0.0, 1.0, "skin"),
    "skin_smooth": Field(1.0, 0.0, 1.0, None),
    "skin_da": Field(10.0, -6.0, 6.0, None),
    "skin_db": Field(10.0, -6.0, 6.0, None),
    # stylisation (painted portrait): flat shading, saturation, ink outlines
    "paint": Field(1.0, 0.0, 1.0, None),
    "paint_saturation": Field(1.0, 0.0, 1.0, None),
    "paint_edges": Field(1.0, 0.0, 1.0, None),
}
FIELD_NAMES: tuple[str, ...] = tuple(SPEC)
CODE_DIM = len(SPEC)


@dataclass(frozen=True)
class LookCode:
    lips_opacity: float = 0.0
    lips_a: float = 20.0
    lips_b: float = 10.0
    lips_dL: float = 0.0
    shadow_opacity: float = 0.0
    shadow_dL: float = 0.0
    shadow_a: float = 5.0
    shadow_b: float = 5.0
    liner_opacity: float = 0.0
    liner_L: float = 15.0
    brow_opacity: float = 0.0
    brow_dL: float = 0.0
    blush_opacity: float = 0.0
    blush_da: float = 0.0
    blush_db: float = 0.0
    blush_dL: float = 0.0
    contour_opacity: float = 0.0
    contour_dL: float = 0.0
    highlight_opacity: float = 0.0
    highlight_dL: float = 0.0
    skin_opacity: float = 0.0
    skin_smooth: float = 0.0
    skin_da: float = 0.0
    skin_db: float = 0.0
    paint: float = 0.0
    paint_saturation: float = 0.0
    paint_edges: float = 0.0

    def clipped(self) -> "LookCode":
        return replace(self, **{k: float(min(max(v, SPEC[k].lo), SPEC[k].hi)) for k, v in asdict(self).items()})

    def vector(self) -> np.ndarray:
        """The student's style input, (CODE_DIM,) float32."""
        return np.array([getattr(self, k) / SPEC[k].scale for k in FIELD_NAMES], np.float32)

    @classmethod
    def from_vector(cls, v: Iterable[float]) -> "LookCode":
        v = [float(x) for x in v]
        if len(v) != CODE_DIM or not all(math.isfinite(x) for x in v):
            raise LookError(f"a look code needs {CODE_DIM} finite numbers, got {len(v)}")
        return cls(**{k: x * SPEC[k].scale for k, x in zip(FIELD_NAMES, v)})

    def only_regions(self, groups: Iterable[RegionGroup]) -> "LookCode":
        """The same look with every region group outside ``groups`` switched off."""
        keep = set(groups)
        unknown = keep - set(REGION_GROUPS)
        if unknown:
            raise LookError(f"unknown region(s) {sorted(unknown)}; choose from {', '.join(REGION_GROUPS)}")
        off = {k: 0.0 for k, f in SPEC.items() if f.group is not None and f.group not in keep}
        if "skin" not in keep:
            off["paint"] = 0.0
        return replace(self, **off)

    def regions(self) -> list[RegionGroup]:
        """The region groups this look changes (opacity above a trace)."""
        used = {f.group for k, f in SPEC.items() if f.group is not None and getattr(self, k) > 0.05}
        if self.paint > 0.05:
            used |= {"skin"}
        return [g for g in REGION_GROUPS if g in used]

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def code_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(LookCode))


assert code_fields() == FIELD_NAMES, "LookCode fields and SPEC must list the same names in the same order"


def spec_for_look(look) -> PlacementSpec:
    """A look's makeup placement (:mod:`livefilter.composite.placement`): from its look code when it has
    one of the family's; a look without one may paint the whole face. A look whose pack says so
    (``composite: head``) lands on the head."""
    code = None
    if look.style_code is not None and len(look.style_code) == CODE_DIM:
        try:
            code = LookCode.from_vector(look.style_code)
        except LookError:
            code = None
    return replace(PlacementSpec.of(code), head=look.composite == "head")
