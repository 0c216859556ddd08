"""Is an A/B row's difference beyond the sampling spread? Paired random half-samples of the eval units.

Every row of the A/B is a statistic over a few dozen eval faces (or photos, or real makeup patches). A
difference of 0.002 between two arms says nothing when another draw of the same number of faces would move
either arm by 0.02. This module estimates that spread without assuming anything about the statistic's
form (a mean, a ratio of means, a rate, KID):

* a replicate keeps a random half of each kind of unit (``faces``, ``photos``, ``real``), without
  replacement, and the *same* half for both arms, so the two arms are compared on the same faces, as the
  full A/B compares them;
* the row's statistic is computed on that half for A and for B, giving one difference B - A;
* the spread of those differences over the replicates is the standard error of the full difference: for a
  mean over N units, a random half without replacement has variance sigma^2/N * N/(N-1), the full sample's
  sigma^2/N up to N/(N-1) (half-sample replication; McCarthy 1969, "Pseudo-replication: half samples");
* the difference is *sure* when it is more than ``Z`` (1.96, a two-sided 95 % level) standard errors
  from zero. With some 70 rows a handful of sure rows can still be chance: read them together.

Half samples rather than the bootstrap: resampling with replacement repeats faces, and a repeated patch sits
on the diagonal of KID's kernel, which its unbiased estimate leaves out; halves never repeat a unit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

Selection = Mapping[str, np.ndarray]  # unit kind -> indices of the units kept
Stat = Callable[[Selection], float]  # a row's statistic on a selection of units

Z = 1.96
REPLICATES = 200
MIN_UNITS = 4  # fewer units of a kind than this: no half worth the name, no spread


def everything(sizes: Mapping[str, int]) -> dict[str, np.ndarray]:
    """The selection of all units (the full A/B)."""
    return {k: np.arange(n) for k, n in sizes.items()}


def halves(sizes: Mapping[str, int], replicates: int = REPLICATES, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``replicates`` selections, each a random half (sorted indices) of every kind of unit."""
    if replicates < 2:
        raise ValueError(f"half-samples need at least 2 replicates, got {replicates}")
    rng = np.random.default_rng(seed)
    return [{k: np.sort(rng.choice(n, n // 2, replace=False)) for k, n in sizes.items()} for _ in range(replicates)]


@dataclass(frozen=True)
class Spread:
    difference: float  # B - A on every unit
    se: float  # its standard error from the half-samples (NaN: not estimable)
    replicates: int  # replicates where both arms gave a finite value

    @property
    def sure(self) -> bool | None:
        """Beyond the sampling spread (None: no spread to judge by)."""
        if not (math.isfinite(self.difference) and math.isfinite(self.se)):
            return None
        return abs(self.difference) > Z * self.se

    def as_dict(self) -> dict:
        return {"difference": self.difference, "se": self.se, "replicates": self.replicates, "sure": self.sure}


def spread(a: Stat, b: Stat, sizes: Mapping[str, int], selections: list[dict[str, np.ndarray]]) -> Spread:
    """B - A on all units, and its standard error from paired half-samples (``selections``)."""
    if any(n < MIN_UNITS for n in sizes.values()):
        return Spread(b(everything(sizes)) - a(everything(sizes)), math.nan, 0)
    full = everything(sizes)
    d = np.array([b(s) - a(s) for s in selections], np.float64)
    d = d[np.isfinite(d)]
    se = float(d.std(ddof=1)) if len(d) >= max(2, len(selections) // 2) else math.nan
    return Spread(float(b(full) - a(full)), se, int(len(d)))


def nanmean(values: np.ndarray, keep: np.ndarray) -> float:
    """Mean of the finite values among ``keep`` (NaN when none)."""
    v = values[keep]
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else math.nan
