"""Region masks, region colour measures and the look code, on real faces and constructed cases."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import read_rgb, shared_path
from livefilter.align.host import Aligner
from livefilter.looks.code import CODE_DIM, LookCode
from livefilter.looks.region_stats import face_stats, ita_group, to_lab
from livefilter.composite.regions import MEASURE_NAMES, REGION_NAMES, batch_regions, face_regions
from training.eval.regions import face_change, reference_distance, summarise


@pytest.fixture(scope="module")
def face():
    from livefilter.detect import create_detector

    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    f = create_detector().detect(img)[0]
    al = Aligner(256, 0.25)
    m = al.transform(f.keypoints)
    crop = al.warp(img, m[None])[0]
    return crop, (f.landmarks @ m[:, :2].T + m[:, 2]).astype(np.float32)


def test_regions_are_where_the_features_are(face):
    crop, pts = face
    r = face_regions(pts, 256)
    assert set(r.masks) == set(REGION_NAMES) and set(r.measure) == set(MEASURE_NAMES)
    for name, m in r.masks.items():
        assert m.shape == (256, 256) and m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1, name
        assert m.sum() > 10, f"{name} is empty"
    cy = lambda m: float((np.arange(256)[:, None] * m).sum() / m.sum())  # noqa: E731
    # top to bottom: brows above lids above cheeks above lips
    assert cy(r.masks["brows"]) < cy(r.masks["eyeshadow"]) < cy(r.masks["blush"]) < cy(r.masks["lips"])
    # the lips mask sits on the lip landmarks and leaves the mouth opening out
    lips = r.measure["lips"].astype(bool)
    assert lips[int(pts[17, 1]) - 2, int(pts[17, 0])] and not lips[int(pts[13, 1]) + 1:int(pts[14, 1]), int(pts[13, 0])].all()
    # measured skin never overlaps lips, lids or brows
    for other in ("lips", "eyelids", "brows"):
        assert not (r.measure["skin"].astype(bool) & r.measure[other].astype(bool)).any()


def test_regions_scale_with_the_crop(face):
    crop, pts = face
    big, small = face_regions(pts, 256), face_regions(pts / 2, 128)
    for name in ("lips", "eyeshadow", "blush"):
        down = cv2.resize(big.masks[name], (128, 128), interpolation=cv2.INTER_AREA)
        assert np.abs(down - small.masks[name]).mean() < 0.03, name
    soft, hard = batch_regions(np.stack([pts, pts]), 256)
    assert soft.shape == (2, len(REGION_NAMES), 256, 256) and hard.shape == (2, len(MEASURE_NAMES), 256, 256)


def test_untouched_face_measures_zero(face):
    crop, pts = face
    c = face_change(crop, crop, pts)
    assert all(v == 0.0 for v in c.delta_e.values()) and all(v == 0.0 for v in c.delta_l.values())


def test_painted_lips_give_the_expected_delta_e_and_nothing_elsewhere(face):
    crop, pts = face
    lips = face_regions(pts, 256).measure["lips"].astype(bool)
    lab = to_lab(crop)
    lab[lips, 1] += 20.0  # redder by exactly 20 a*
    lab[lips, 0] -= 5.0  # and 5 L darker
    painted = np.clip(cv2.cvtColor(lab.reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(crop.shape) * 255, 0, 255)
    painted = painted.round().astype(np.uint8)
    c = face_change(crop, painted, pts)
    assert c.delta_e["lips"] == pytest.approx(np.hypot(20, 5), abs=2.0)
    assert c.delta_l["lips"] == pytest.approx(-5.0, abs=1.0)
    assert c.delta_e["skin"] < 0.05 and c.delta_e["eyelids"] < 0.05  # Lab round trip of untouched pixels
    s = summarise([c, c])
    assert s["faces"] == 2 and s["lips"]["delta_e"] == pytest.approx(c.delta_e["lips"], abs=0.01)
    # the painted lips are nearer a reference that has such lips
    ref = c.after.relative()
    before = reference_distance([c.before], ref)["lips"]
    after = reference_distance([c.after], ref)["lips"]
    assert after == pytest.approx(0.0, abs=1e-6) and before > 15


def test_skin_tone_groups_from_ita():
    assert ita_group(np.array([75.0, 8.0, 14.0])) == "light"
    assert ita_group(np.array([35.0, 14.0, 20.0])) in ("brown", "dark")
    assert ita_group(np.array([60.0, 1.0, 1.0])) == "grey"


def test_face_stats_are_finite_on_a_real_face(face):
    crop, pts = face
    st = face_stats(crop, pts)
    assert np.isfinite(st.lab).all()
    rel = st.relative()
    assert rel["lips_a"] > rel["skin_a"]  # lips are redder than skin
    assert rel["lid_L_rel"] < 0  # lids are darker than the skin below them


def test_look_code_round_trips_and_switches_regions_off():
    code = LookCode(lips_opacity=1.0, lips_a=45.0, shadow_opacity=0.8, shadow_dL=-20.0, blush_opacity=0.5)
    v = code.vector()
    assert v.shape == (CODE_DIM,) and v.dtype == np.float32
    assert LookCode.from_vector(v).to_dict() == code.to_dict()
    assert code.regions() == ["lips", "eyes", "cheeks"]
    lips_only = code.only_regions(["lips"])
    assert lips_only.regions() == ["lips"] and lips_only.lips_a == 45.0
    with pytest.raises(Exception, match="unknown region"):
        code.only_regions(["nose"])
    with pytest.raises(Exception, match="finite"):
        LookCode.from_vector([float("nan")] * CODE_DIM)
