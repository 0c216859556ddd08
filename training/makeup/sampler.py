"""Look codes to train on: the family's own, codes of random reference subsets, mixes and random codes.

The student must follow *any* code, not only the shipped looks' (``livefilter looks create`` makes new
ones from a user's photos, ``--regions`` switches regions off, strength and mixes move between looks),
so it is trained over the whole code space, weighted towards what real references produce.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from livefilter.looks.code import CODE_DIM, SPEC, LookCode
from livefilter.looks.region_stats import Recipe, encode_descriptors, robust_mean
from livefilter.composite.regions import REGION_GROUPS


@dataclass
class CodeSampler:
    family: list[LookCode]
    ref_desc: list[dict[str, float]]  # descriptors of every makeup reference photo
    baseline: dict[str, float]
    rng: np.random.Generator

    def random_recipe(self) -> Recipe:
        r = self.rng
        pick = lambda p: float(r.uniform(0.2, 1.0)) if r.random() < p else 0.0  # noqa: E731
        return Recipe(lips=pick(0.85), eyes=pick(0.7), liner=pick(0.4), brows=pick(0.35), blush=pick(0.6),
                      contour=pick(0.3), highlight=pick(0.3), skin_smooth=pick(0.35), paint=pick(0.1),
                      gain=float(r.uniform(0.7, 1.5)))

    def from_refs(self) -> LookCode:
        k = int(self.rng.integers(1, min(8, len(self.ref_desc)) + 1))
        idx = self.rng.choice(len(self.ref_desc), k, replace=False)
        return encode_descriptors(robust_mean([self.ref_desc[i] for i in idx]), self.baseline, self.random_recipe())

    def uniform(self) -> LookCode:
        vals = {}
        for k, f in SPEC.items():
            if f.group is not None or k.startswith("paint") or k == "skin_smooth":
                vals[k] = float(self.rng.uniform(0, 1)) if self.rng.random() < 0.5 else 0.0
            else:
                vals[k] = float(self.rng.uniform(f.lo, f.hi))
        return LookCode(**vals)

    def sample(self) -> LookCode:
        u = self.rng.random()
        if u < 0.4:
            code = self.family[int(self.rng.integers(len(self.family)))]
        elif u < 0.65:
            code = self.from_refs()
        elif u < 0.8:
            a, b = (self.family[int(i)] for i in self.rng.integers(len(self.family), size=2))
            t = float(self.rng.uniform(0, 1))
            code = LookCode.from_vector((1 - t) * a.vector() + t * b.vector())
        else:
            code = self.uniform()
        if self.rng.random() < 0.2:  # a user restricting the look to some regions
            groups = [g for g in REGION_GROUPS if self.rng.random() < 0.5]
            code = code.only_regions(groups)
        if self.rng.random() < 0.05:
            code = replace(LookCode(), lips_a=code.lips_a)  # the empty look: output must equal input
        return code.clipped()

    def batch(self, n: int) -> np.ndarray:
        return np.stack([self.sample().vector() for _ in range(n)]).astype(np.float32).reshape(n, CODE_DIM)
