"""Metrics on constructed cases where the answer is known."""

import cv2
import numpy as np
import pytest

from conftest import read_rgb, shared_path
from training.eval import metrics as M


@pytest.fixture
def face():
    return cv2.resize(read_rgb(shared_path("faces", "deepface_tests", "img1.jpg")), (256, 256))


def test_psnr_ssim_known_values(face):
    assert M.psnr(face, face) == float("inf")
    assert M.ssim(face, face) == pytest.approx(1.0)
    noisy = np.clip(face.astype(int) + 10, 0, 255).astype(np.uint8)
    assert 25 < M.psnr(face, noisy) < 29
    assert M.ssim(face, 255 - face) < 0.5


def test_identity_of_unchanged_face_is_one(face):
    embed = lambda x: x.reshape(len(x), -1).astype(np.float64)  # noqa: E731
    assert M.identity_similarity(embed, face[None], face[None]) == pytest.approx(1.0)


def test_flicker_of_unchanged_video_is_one_and_added_noise_raises_it(face):
    rng = np.random.default_rng(0)
    frames = [np.roll(face, i, axis=1) for i in range(8)]
    assert M.flicker_ratio(frames, frames) == pytest.approx(1.0)
    noisy = [np.clip(f.astype(int) + rng.integers(-20, 20, f.shape), 0, 255).astype(np.uint8) for f in frames]
    assert M.flicker_ratio(frames, noisy) > 1.5


def _moved(img, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, img.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def test_warped_flicker_follows_the_motion_and_counts_only_what_flickers(face):
    """Paint that moves with the face adds nothing to the warped measure; the same paint standing still while
    the face moves, or a per-frame brightness jitter, does. The plain ratio cannot tell the moving paint
    from flicker."""
    steps = [(1.7 * i, 0.6 * i) for i in range(8)]
    frames = [_moved(face, *s) for s in steps]
    lips = np.zeros(face.shape[:2], np.float32)
    cv2.ellipse(lips, (128, 170), (30, 12), 0, 0, 360, 1.0, -1)
    lips = cv2.GaussianBlur(lips, (0, 0), 2)
    region = cv2.dilate((lips > 0.01).astype(np.float32), np.ones((41, 41), np.uint8))
    paint = lambda f, t: np.clip(f * (1 - 0.8 * t) + np.array([200, 20, 60]) * 0.8 * t, 0, 255).astype(np.uint8)  # noqa: E731
    moving = [paint(f, _moved(lips, *s)[..., None]) for f, s in zip(frames, steps)]
    still = [paint(f, lips[..., None]) for f in frames]
    rng = np.random.default_rng(0)
    jitter = [np.clip(f.astype(int) + rng.integers(-6, 6), 0, 255).astype(np.uint8) for f in frames]

    assert M.warped_flicker_ratio(frames, frames, region) == pytest.approx(1.0)
    assert M.warped_flicker_ratio(frames, moving, region) < 1.02 < M.flicker_ratio(frames, moving, region)
    assert M.warped_flicker_ratio(frames, still, region) > 1.05
    assert M.warped_flicker_ratio(frames, jitter, region) > 1.5 > M.flicker_ratio(frames, jitter, region)
    with pytest.raises(ValueError):
        M.warped_flicker_ratio(frames[:1], moving[:1])


def test_seam_score_hard_paste_high_feathered_low(face):
    mask = np.zeros((256, 256), np.float32)
    cv2.ellipse(mask, (128, 128), (70, 90), 0, 0, 360, 1.0, -1)
    tinted = np.clip(face.astype(int) + np.array([60, -30, -30]), 0, 255).astype(np.uint8)
    hard = np.where(mask[..., None] > 0.5, tinted, face).astype(np.uint8)
    soft_mask = cv2.GaussianBlur(mask, (0, 0), 12)
    soft = (face * (1 - soft_mask[..., None]) + tinted * soft_mask[..., None]).astype(np.uint8)
    assert M.seam_ratio(hard, mask) > 1.5 * M.seam_ratio(soft, mask)
    assert M.seam_ratio(face, mask) < 1.5


def test_style_distance_zero_for_same_statistics(face):
    mask = np.ones((256, 256), np.float32)
    assert M.style_distance(face[None], face[None], mask) == pytest.approx(0.0, abs=1e-9)
    assert M.style_distance(face[None], (255 - face)[None], mask) > 10
