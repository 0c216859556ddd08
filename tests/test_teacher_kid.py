"""KID and Gram distances in FaceNet's feature space (training.teacher.kid), on real face patches."""

import numpy as np
import pytest

from conftest import shared_path

kid = pytest.importorskip("training.teacher.kid")


def _needs_facenet():
    from training.eval import identity

    reason = identity.unavailable_reason()
    if reason:
        pytest.skip(reason)


def _brute_mmd2(x, y):
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_unbiased_polynomial_mmd_matches_its_definition():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1.0, size=(7, 5))
    assert kid._poly_mmd2(x, y) == pytest.approx(_brute_mmd2(x, y), rel=1e-9)
    # one subset of the whole sets is the plain estimate; the std of identical draws is 0
    r = kid.kid(x, y, subsets=3, subset_size=7)
    assert r["kid"] == pytest.approx(_brute_mmd2(x, y), rel=1e-9) and r["std"] == pytest.approx(0, abs=1e-12)
    assert r["subset_size"] == 7 and r["n"] == [7, 7]
    # a shifted distribution is further than a sample of the same one
    far = kid.kid(rng.normal(size=(60, 5)), rng.normal(1.0, 1.0, size=(60, 5)), subsets=20, subset_size=30)
    near = kid.kid(rng.normal(size=(60, 5)), rng.normal(size=(60, 5)), subsets=20, subset_size=30)
    assert far["kid"] > near["kid"] + 3 * near["std"]
    with pytest.raises(ValueError):
        kid.kid(x[:1], y)


def test_fixed_standardisation_keeps_brightness():
    img = np.random.default_rng(0).integers(0, 255, (2, 40, 50, 3), np.uint8)
    a, b = kid.prepare(img), kid.prepare(img // 2)
    assert a.shape == (2, 3, 160, 160) and a.dtype == np.float32
    # FaceNet's prewhitening would map an image and its darker copy to the same input; this does not
    assert np.abs(a - b).mean() > 0.3
    with pytest.raises(ValueError):
        kid.prepare(img.astype(np.float32))


def test_kid_separates_real_lip_patches_from_eye_patches():
    _needs_facenet()
    from livefilter.align.host import Aligner
    from training.data import prepare_crops
    from training.teacher.ab import patches

    folders = [shared_path("faces", f) for f in ("face_recognition_examples", "dualstylegan_content", "vtoonify_data")]
    cs = prepare_crops(folders, Aligner(256, 0.25), max_faces_per_image=1)
    lips, eyes = patches(cs.crops, cs.landmarks)
    assert lips.shape[1:] == (96, 96, 3) and len(eyes) == 2 * len(lips)
    fl, fe = kid.features(lips), kid.features(eyes)
    assert fl.pool.shape == (len(lips), 1792) and np.all(np.isfinite(fl.pool))
    assert fl.grams["block35"].shape[1:] == (256, 256)
    half = len(fl.pool) // 2
    same = kid.kid(fl.pool[:half], fl.pool[half:2 * half], subsets=30)
    other = kid.kid(fl.pool, fe.pool[::2], subsets=30)
    assert other["kid"] > same["kid"] + 2 * other["std"]
    # Gram distance: lips are nearer other lips than eyes (the style layers see the texture)
    assert kid.gram_distance(kid.features(lips[:half]), kid.features(lips[half:]))["mean"] < \
        kid.gram_distance(kid.features(lips[:half]), fe)["mean"]
