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
