"""The classical illustration filter (the toon look's pseudo-target) on real faces of lighter and darker skin."""

import numpy as np
import pytest

from conftest import shared_path

pytest.importorskip("cv2")
from training.teacher.illustrate import _ink, illustrate  # noqa: E402


@pytest.fixture(scope="module")
def faces():
    from livefilter.align.host import Aligner
    from livefilter.looks.region_stats import face_stats, ita_degrees
    from training.data import prepare_crops

    cs = prepare_crops([shared_path("faces", "face_recognition_examples"), shared_path("faces", "vtoonify_data")],
                       Aligner(256, 0.25), max_faces_per_image=1)
    ita = np.array([ita_degrees(face_stats(c, p).get("skin")) for c, p in zip(cs.crops, cs.landmarks)])
    order = np.argsort(ita)
    idx = np.concatenate([order[:3], order[-3:]])  # the three darkest and three lightest skins
    assert ita[order[0]] < 10 < ita[order[-1]], "need darker and lighter skin"
    return cs.crops[idx], cs.landmarks[idx]


def test_shape_strength_and_bad_input(faces):
    crops, _ = faces
    out = illustrate(crops[:2])
    assert out.shape == crops[:2].shape and out.dtype == np.uint8
    assert np.array_equal(illustrate(crops[:2], 0.0), crops[:2])
    half = illustrate(crops[:2], 0.5).astype(int)
    assert np.abs(half - crops[:2]).mean() < np.abs(out.astype(int) - crops[:2]).mean()
    with pytest.raises(ValueError):
        illustrate(crops[0])
    with pytest.raises(ValueError):
        illustrate(crops[:1], 1.5)


def test_batch_equals_one_at_a_time(faces):
    crops, _ = faces
    batch = illustrate(crops[:4])
    for i in range(4):
        assert np.array_equal(batch[i], illustrate(crops[i:i + 1])[0])


def test_skin_keeps_its_lightness_and_loses_texture(faces):
    import cv2

    from training.eval.regions import face_change

    crops, marks = faces
    out = illustrate(crops)
    from livefilter.composite.regions import face_regions
    from livefilter.looks.region_stats import to_lab

    for c, o, p in zip(crops, out, marks):
        ch = face_change(c, o, p)
        assert abs(ch.delta_l["skin"]) < 1.5, ch.delta_l  # no skin tone darkened or lightened
        skin = face_regions(p, 256).measure["skin"].astype(bool)
        # the median |Laplacian|: texture is everywhere, the flat levels' few steps do not move the median
        lap = lambda x: np.median(np.abs(cv2.Laplacian(to_lab(x)[..., 0], cv2.CV_32F)[skin]))  # noqa: E731
        assert lap(o) < 0.8 * lap(c)  # flat areas: the skin's fine texture is smoothed away


def test_ink_on_features_not_on_skin(faces):
    import cv2

    from livefilter.composite.regions import face_regions
    from livefilter.looks.region_stats import to_lab

    crops, marks = faces
    for c, p in zip(crops, marks):
        reg = face_regions(p, 256)
        L = to_lab(np.ascontiguousarray(cv2.bilateralFilter(c, 0, 40, 3)))[..., 0]
        ink = _ink(L, 1.0)
        skin = reg.measure["skin"].astype(bool)
        eyes = cv2.dilate((reg.masks["eyeliner"] > 0.3).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert (ink[skin] > 0.5).mean() < 0.03  # no bands down the nose or beside the mouth
        assert ink[eyes].mean() > 3 * max(ink[skin].mean(), 1e-3)  # the lash lines are inked


def test_same_person(faces):
    from training.eval import identity

    reason = identity.unavailable_reason()
    if reason:
        pytest.skip(reason)
    crops, _ = faces
    assert identity.same_person(crops, illustrate(crops)).all()


def test_texture_ratio_is_one_for_the_photo_and_low_for_the_illustration(faces):
    from training.teacher.illustrate import texture_ratio

    crops, _ = faces
    assert texture_ratio(crops, crops) == pytest.approx(1.0)
    flat = texture_ratio(crops, illustrate(crops))
    assert flat < 0.8
    assert texture_ratio(crops, illustrate(crops, 0.5)) > flat  # half strength keeps more of the photo's shading
