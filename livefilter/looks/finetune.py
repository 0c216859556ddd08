"""Fidelity pass of ``looks create --finetune``: adapt only the look code, never the shared student.

The encoded code says what the references wear; what the student *paints* for it on a real face can
fall short (a deep lipstick comes out lighter, a blush fainter). This pass styles plain faces with
the candidate code through the runtime's own onnxruntime translator and face-oval compositing,
measures the result with the shipped style encoder, and moves the code of the regions the look wears
so that the styled faces' skin-relative region colours approach the references'. Skin lightness
changes are penalised (a look never whitens or darkens the person).

The objective is a measurement, not a differentiable graph, so the search is derivative-free: first
fixed-point corrections (each colour field moves by what its region still misses, one evaluation a
step), then simultaneous-perturbation stochastic approximation (SPSA, Spall 1992: two evaluations per
step whatever the number of parameters) around the best code, which is kept; bounded by wall time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from livefilter.looks.code import FIELD_NAMES, SPEC, LookCode
from livefilter.looks.encoder import StyleEncoder, measure_mask_stack
from livefilter.looks.styling import CropStyler

log = logging.getLogger(__name__)

# The descriptors each region's colour is compared to the references' in, and the code fields that move it.
REGION_TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lips": (("lips_L_rel", "lips_a", "lips_b"), ("lips_opacity", "lips_a", "lips_b", "lips_dL")),
    "eyes": (("lid_L_rel", "lid_a", "lid_b"), ("shadow_opacity", "shadow_dL", "shadow_a", "shadow_b")),
    "cheeks": (("cheek_L_rel", "cheek_a_rel", "cheek_b_rel"), ("blush_opacity", "blush_da", "blush_db", "blush_dL")),
}
SKIN_FREE_L = 1.5  # skin lightness changes below this are not penalised
SKIN_WEIGHT = 4.0
PRIOR_WEIGHT = 0.5  # pull towards the encoded code (in student-vector units)


@dataclass
class FinetuneResult:
    code: LookCode
    objective_before: float
    objective_after: float
    iterations: int
    evaluations: int
    seconds: float
    faces: int

    def to_dict(self) -> dict:
        return {"objective_before": round(self.objective_before, 3), "objective_after": round(self.objective_after, 3),
                "iterations": self.iterations, "evaluations": self.evaluations, "seconds": round(self.seconds, 1),
                "faces": self.faces,
                "method": "fixed-point corrections then SPSA on the look code (student weights unchanged)"}


class CodeObjective:
    """Distance of styled faces' region descriptors to the references', plus skin and prior penalties."""

    def __init__(self, styler: CropStyler, encoder: StyleEncoder, landmarks: np.ndarray, target: dict[str, float],
                 regions: list[str], strength: float, prior: np.ndarray) -> None:
        self.styler, self.encoder, self.strength, self.prior = styler, encoder, strength, prior
        self.masks = measure_mask_stack(landmarks, styler.crops.shape[1])
        plain = encoder.region_stats(styler.crops, self.masks)
        self.skin_L = np.array([s.get("skin")[0] for s in plain])
        self.keys = [k for r in regions if r in REGION_TARGETS for k in REGION_TARGETS[r][0]]
        self.target = np.array([target[k] for k in self.keys], np.float64)
        ok = np.isfinite(self.target)
        self.keys = [k for k, good in zip(self.keys, ok) if good]
        self.target = self.target[ok]
        self.evaluations = 0

    def evaluate(self, code: np.ndarray) -> tuple[float, dict[str, float], dict[str, float]]:
        """The objective of ``code``, the styled faces' descriptors (median over faces) and each
        region's own distance to the references (mean over faces)."""
        self.evaluations += 1
        styled = self.styler(code, self.strength)
        stats = self.encoder.region_stats(styled, self.masks)
        rel = np.array([[s.relative()[k] for k in self.keys] for s in stats], np.float64)
        sq = (rel - self.target) ** 2
        dist = np.sqrt(np.nansum(sq, axis=1))
        per_region = {}
        for region, (keys, _) in REGION_TARGETS.items():
            cols = [i for i, k in enumerate(self.keys) if k in keys]
            if cols:
                per_region[region] = float(np.sqrt(np.nansum(sq[:, cols], axis=1)).mean())
        skin = np.nan_to_num(np.abs(np.array([s.get("skin")[0] for s in stats]) - self.skin_L))
        penalty = SKIN_WEIGHT * np.maximum(0.0, skin - SKIN_FREE_L).mean()
        prior = PRIOR_WEIGHT * float(((code - self.prior) ** 2).sum())
        with np.errstate(all="ignore"):
            achieved = {k: float(np.nanmedian(rel[:, i])) for i, k in enumerate(self.keys)}
        return float(dist.mean() + penalty + prior), achieved, per_region

    def __call__(self, code: np.ndarray) -> float:
        return self.evaluate(code)[0]


# Code field -> the descriptor it mainly sets (same units, Lab): the correction step moves each field by
# what its descriptor still misses on the styled faces.
CORRECTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "lips": (("lips_a", "lips_a"), ("lips_b", "lips_b"), ("lips_dL", "lips_L_rel")),
    "eyes": (("shadow_a", "lid_a"), ("shadow_b", "lid_b"), ("shadow_dL", "lid_L_rel")),
    "cheeks": (("blush_da", "cheek_a_rel"), ("blush_db", "cheek_b_rel"), ("blush_dL", "cheek_L_rel")),
}


def corrected(code: np.ndarray, achieved: dict[str, float], target: dict[str, float], regions: list[str],
              rate: float) -> np.ndarray:
    """One fixed-point step: each field moves by ``rate`` x (reference descriptor - styled descriptor)."""
    out = code.copy()
    for region in regions:
        for fname, key in CORRECTIONS.get(region, ()):
            if key in achieved and np.isfinite(achieved[key]) and np.isfinite(target.get(key, np.nan)):
                i = FIELD_NAMES.index(fname)
                spec = SPEC[fname]
                value = out[i] * spec.scale + rate * (target[key] - achieved[key])
                out[i] = min(max(value, spec.lo), spec.hi) / spec.scale
    return out


def correction_fields(region: str) -> list[int]:
    """Indices (in the code vector) of the fields the correction step moves for one region group."""
    return [FIELD_NAMES.index(fname) for fname, _ in CORRECTIONS.get(region, ())]


def free_fields(regions: list[str]) -> list[int]:
    """Indices (in the code vector) of the fields the pass may move for these region groups."""
    names = {f for r in regions if r in REGION_TARGETS for f in REGION_TARGETS[r][1]}
    return [i for i, k in enumerate(FIELD_NAMES) if k in names]


def _bounds(idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([SPEC[FIELD_NAMES[i]].lo / SPEC[FIELD_NAMES[i]].scale for i in idx])
    hi = np.array([SPEC[FIELD_NAMES[i]].hi / SPEC[FIELD_NAMES[i]].scale for i in idx])
    return lo, hi


def finetune_code(code: LookCode, objective: CodeObjective, seconds: float, *, seed: int = 0,
                  progress: Callable[[float, float], None] | None = None, cancel=None) -> FinetuneResult:
    """SPSA over the look's free code fields for at most ``seconds`` of wall time; the best code wins.

    ``cancel`` (a ``threading.Event``) ends it at the next evaluation, with the best code so far: a run
    that is stopped (Ctrl-C, SIGTERM) must not wait minutes, nor exit while a worker is inside the network."""
    t0 = time.monotonic()

    def running() -> bool:
        return not (cancel is not None and cancel.is_set()) and time.monotonic() - t0 < seconds
    rng = np.random.default_rng(seed)
    regions = [r for r in code.regions() if r in REGION_TARGETS]
    idx = free_fields(regions)
    v0 = code.vector().astype(np.float64)
    best_v, best_f = v0.copy(), objective(v0.astype(np.float32))
    start_f = best_f
    if not idx or not objective.keys:
        return FinetuneResult(code, start_f, start_f, 0, objective.evaluations, time.monotonic() - t0, len(objective.masks))
    # 1) fixed-point corrections: one evaluation each, they close most of the gap when the student
    #    under- or over-paints a region. Regions are judged one by one (a lip step that helps is kept
    #    even when the eye step of the same evaluation did not), and a region whose step does not
    #    help halves its own rate.
    target = dict(zip(objective.keys, objective.target))
    v = best_v.copy()
    f, achieved, per = objective.evaluate(v.astype(np.float32))
    rates = {r: 1.0 for r in regions if r in per}
    k = 0
    while any(rate > 0.1 for rate in rates.values()) and running() and time.monotonic() - t0 < seconds * 0.5:
        active = [r for r, rate in rates.items() if rate > 0.1]
        cand = v.copy()
        for r in active:
            cand = corrected(cand, achieved, target, [r], rates[r])
        f_c, got_c, per_c = objective.evaluate(cand.astype(np.float32))
        k += 1
        better = [r for r in active if per_c.get(r, np.inf) < per[r]]
        for r in active:
            if r not in better:
                rates[r] *= 0.5
        if len(better) == len(active):
            v, f, achieved, per = cand, f_c, got_c, per_c
        elif better:
            mixed = v.copy()
            for r in better:
                fields = correction_fields(r)
                mixed[fields] = cand[fields]
            v = mixed
            f, achieved, per = objective.evaluate(v.astype(np.float32))
        if f < best_f:
            best_f, best_v = f, v.copy()
        if progress:
            progress(min(seconds, time.monotonic() - t0), seconds)
    # 2) SPSA around the best code for the rest of the time (all free fields, opacities included)
    v0 = best_v.copy()
    lo, hi = _bounds(idx)
    theta = v0[idx].copy()
    a0, c0, big_a = 0.04, 0.05, 10.0
    while running():
        ak, ck = a0 / (k + 1 + big_a) ** 0.602, c0 / (k + 1) ** 0.101
        delta = rng.choice((-1.0, 1.0), size=len(idx))
        v_plus, v_minus = v0.copy(), v0.copy()
        v_plus[idx] = np.clip(theta + ck * delta, lo, hi)
        v_minus[idx] = np.clip(theta - ck * delta, lo, hi)
        f_plus = objective(v_plus.astype(np.float32))
        f_minus = objective(v_minus.astype(np.float32))
        for f, v in ((f_plus, v_plus), (f_minus, v_minus)):
            if f < best_f:
                best_f, best_v = f, v
        g = (f_plus - f_minus) / (2 * ck) * delta
        # normalised step: the objective's scale (Lab units) varies by look, the step size should not
        theta = np.clip(theta - ak * g / max(1e-6, float(np.sqrt((g ** 2).mean()))), lo, hi)
        k += 1
        if k % 8 == 0:  # check where the iterate itself stands, so the best is not only a probe
            v = v0.copy()
            v[idx] = theta
            f = objective(v.astype(np.float32))
            if f < best_f:
                best_f, best_v = f, v.copy()
        if progress:
            progress(min(seconds, time.monotonic() - t0), seconds)
    tuned = LookCode.from_vector(best_v).clipped()
    log.info("finetune: objective %.2f -> %.2f in %d steps", start_f, best_f, k)
    return FinetuneResult(tuned, start_f, best_f, k, objective.evaluations, time.monotonic() - t0,
                          len(objective.masks))
