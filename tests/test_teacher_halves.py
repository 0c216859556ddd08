"""The A/B's sampling spread (training.teacher.halves): paired half-samples on cases with a known answer."""

import math

import numpy as np
import pytest

from training.teacher import halves as H


def _mean_of(values):
    return lambda s: float(values[s["faces"]].mean())


def test_half_samples_estimate_the_standard_error_of_a_mean():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, 40)
    b = rng.normal(0.0, 1.0, 40)  # independent of a: the difference's error is sqrt(2) sigma / sqrt(N)
    sizes = {"faces": 40}
    got = H.spread(_mean_of(a), _mean_of(b), sizes, H.halves(sizes, 400))
    expected = math.sqrt(a.var(ddof=1) / 40 + b.var(ddof=1) / 40 - 2 * np.cov(a, b)[0, 1] / 40)
    assert got.se == pytest.approx(expected, rel=0.15)
    assert got.difference == pytest.approx(b.mean() - a.mean())
    assert got.replicates == 400


def test_pairing_separates_a_small_shift_from_the_faces_own_spread():
    """B is every face of A a little lower: a shift far smaller than the faces' spread, but the same on
    every face, so the paired difference is sure. Noise of the same size with no shift is not."""
    rng = np.random.default_rng(2)
    a = rng.normal(10.0, 3.0, 38)
    shifted = a - 0.05 + rng.normal(0.0, 0.02, 38)
    noise = a + rng.normal(0.0, 0.05, 38)
    sizes = {"faces": 38}
    sel = H.halves(sizes)
    assert H.spread(_mean_of(a), _mean_of(shifted), sizes, sel).sure is True
    assert H.spread(_mean_of(a), _mean_of(noise), sizes, sel).sure is False
    same = H.spread(_mean_of(a), _mean_of(a), sizes, sel)
    assert same.difference == 0 and same.se == 0 and same.sure is False


def test_halves_keep_half_of_every_kind_without_repeats_and_are_reproducible():
    sel = H.halves({"faces": 38, "real": 11}, 5, seed=3)
    again = H.halves({"faces": 38, "real": 11}, 5, seed=3)
    assert len(sel) == 5 and all(np.array_equal(x[k], y[k]) for x, y in zip(sel, again) for k in x)
    for s in sel:
        assert len(s["faces"]) == 19 and len(np.unique(s["faces"])) == 19 and len(s["real"]) == 5
    with pytest.raises(ValueError):
        H.halves({"faces": 10}, 1)


def test_too_few_units_or_undefined_values_give_no_verdict():
    v = np.array([1.0, 2.0, 3.0])
    small = H.spread(_mean_of(v), _mean_of(v + 1), {"faces": 3}, H.halves({"faces": 3}))
    assert small.difference == pytest.approx(1.0) and math.isnan(small.se) and small.sure is None
    nan = lambda s: math.nan  # noqa: E731
    none = H.spread(nan, nan, {"faces": 20}, H.halves({"faces": 20}))
    assert none.replicates == 0 and none.sure is None
    assert H.nanmean(np.array([1.0, np.nan, 3.0]), np.array([0, 1, 2])) == 2.0
    assert math.isnan(H.nanmean(np.array([np.nan]), np.array([0])))
