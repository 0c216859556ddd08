import numpy as np
import pytest

from livefilter.align.host import Aligner, canonical_template, invert_affine, similarity_transform
from livefilter.errors import SettingError
from livefilter.types import Face


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (5, 2))
    angle, scale, t = 0.3, 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + t
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


def test_transform_maps_keypoints_onto_template_and_inverts():
    al = Aligner(256, 0.25)
    kp = al.template * 2.0 + np.array([300.0, 100.0], np.float32)
    m = al.transform(kp)
    mapped = kp @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, al.template, atol=1e-4)
    inv = invert_affine(m)
    back = mapped @ inv[:, :2].T + inv[:, 2]
    np.testing.assert_allclose(back, kp, atol=1e-3)


def test_template_is_centred_and_scales_with_size():
    t128, t256 = canonical_template(128), canonical_template(256)
    np.testing.assert_allclose(t256, t128 * 2, atol=1e-4)
    centre = t256.mean(0)
    assert 100 < centre[0] < 156 and 100 < centre[1] < 156
    assert t256[0, 0] < t256[1, 0]  # left eye left of right eye


def test_warp_writes_into_given_buffer_and_crop_shape():
    img = np.random.default_rng(1).integers(0, 255, (300, 400, 3), np.uint8)
    al = Aligner(64, 0.25)
    face = Face(np.array([100, 50, 300, 250], np.float32), 1.0, al.template * 3 + 80)
    out = np.zeros((2, 64, 64, 3), np.uint8)
    res = al.warp(img, al.transforms([face, face]), out=out)
    assert res is out and out.any()
    assert al.crop(img, face).shape == (64, 64, 3)


@pytest.mark.parametrize("size,padding", [(8, 0.25), (256, -0.1), (256, 2.0)])
def test_bad_alignment_settings(size, padding):
    with pytest.raises(SettingError):
        canonical_template(size, padding)
