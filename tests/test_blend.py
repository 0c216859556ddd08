import numpy as np
import pytest

from livefilter.align.host import Aligner
from livefilter.composite.blend import Blender, ColorEditor, ellipse_mask
from livefilter.looks.pack import ColorEdits
from conftest import read_rgb, shared_path


def _setup(size=128):
    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    al = Aligner(size)
    kp = np.array([[170, 200], [250, 200], [210, 250], [180, 300], [240, 300]], np.float32)
    m = al.transform(kp)[None]
    return img, al, m


def test_identity_look_leaves_the_frame_bit_exact():
    img, al, m = _setup()
    crops = al.warp(img, m)
    out = img.copy()
    Blender(al.template, al.size).blend(out, crops, crops.copy(), m, np.array([1.0]))
    assert np.array_equal(out, img)


def test_changes_stay_inside_the_warped_mask():
    img, al, m = _setup()
    crops = al.warp(img, m)
    styled = np.clip(crops.astype(int) + 60, 0, 255).astype(np.uint8)
    out = img.copy()
    b = Blender(al.template, al.size)
    b.blend(out, crops, styled, m, np.array([1.0]))
    changed = np.abs(out.astype(int) - img.astype(int)).max(-1) > 0
    import cv2

    inv = cv2.invertAffineTransform(m[0])
    mask_frame = cv2.warpAffine(b.mask, inv, img.shape[1::-1])
    assert changed.any()
    assert not (changed & (mask_frame <= 1e-6)).any()
    # strength scales the change
    half = img.copy()
    b.blend(half, crops, styled, m, np.array([0.5]))
    d_full = np.abs(out.astype(int) - img).sum()
    d_half = np.abs(half.astype(int) - img).sum()
    assert 0.4 < d_half / d_full < 0.6


def test_mask_is_feathered_and_inside_crop():
    al = Aligner(128)
    mask = ellipse_mask(al.template, 128)
    assert mask.max() == pytest.approx(1.0, abs=1e-3)
    assert mask[0].max() == 0 and mask[:, 0].max() == 0
    assert ((mask > 0.05) & (mask < 0.95)).sum() > 200  # a soft ramp, not a hard edge


def test_color_editor():
    rng = np.random.default_rng(0)
    crops = rng.integers(40, 200, (2, 32, 32, 3), np.uint8)
    ed = ColorEditor()
    same = crops.copy()
    ed.apply(same, ColorEdits())
    assert np.array_equal(same, crops)
    bright = crops.copy()
    ed.apply(bright, ColorEdits(brightness=0.5))
    assert (bright.astype(int) - crops).mean() == pytest.approx(32, abs=1)
    warm = crops.copy()
    ed.apply(warm, ColorEdits(warmth=1.0))
    assert warm[..., 0].mean() > crops[..., 0].mean() and warm[..., 2].mean() < crops[..., 2].mean()
    grey = crops.copy()
    ed.apply(grey, ColorEdits(saturation=-1.0))
    assert np.abs(grey[..., 0].astype(int) - grey[..., 1]).max() <= 2
