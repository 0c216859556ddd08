"""FP32 geometry of the device pipeline: crops sampled like the CPU path's cv2.warpAffine with
BORDER_REFLECT_101 (also at the frame's borders), and one fixed-layout parameter copy per frame."""

import cv2
import numpy as np
import pytest

from conftest import read_rgb, shared_path
from livefilter.align.host import Aligner

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from livefilter.align.device import affine_to_theta, warp_crops, warp_thetas
from livefilter.align.host import invert_affine
from livefilter.gpu.staging import FrameParams  # noqa: E402


def _border_case():
    img = cv2.resize(read_rgb(shared_path("faces", "deepface_tests", "img1.jpg")), (320, 240))
    al = Aligner(128)
    kp = np.array([[20, 40], [70, 42], [45, 70], [25, 100], [65, 100]], np.float32)  # the crop leaves the frame
    mats = np.stack([al.transform(kp), al.transform(kp + np.float32([255, 135])), al.transform(kp + 100)])
    return img, al, mats


def test_device_crops_match_opencv_reflect_101_everywhere_including_the_borders():
    img, al, mats = _border_case()
    want = al.warp(img, mats)  # cv2.warpAffine, INTER_LINEAR, BORDER_REFLECT101
    frame = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    got = warp_crops(frame, torch.from_numpy(warp_thetas(mats, img.shape[:2], 128)), 128)
    got = got.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    diff = np.abs(got.astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # OpenCV's fixed-point weights: at most 1 level
    # the previous convention (edges at +-1, reflection about the image edge) is BORDER_REFLECT:
    # it differs right where the crops leave the frame, which is what this test is about
    th = torch.from_numpy(affine_to_theta(invert_affine(mats), img.shape[:2], (128, 128)))
    old = F.grid_sample(frame.expand(3, -1, -1, -1), F.affine_grid(th, (3, 3, 128, 128), align_corners=False),
                        padding_mode="reflection", align_corners=False)
    old = old.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    assert np.abs(old.astype(int) - want).max() > 5


def test_an_fp16_sampling_grid_drifts_at_1080p_and_the_fp32_one_does_not():
    """Why the geometry is FP32: the grid's normalised coordinates at 1080p need more than FP16's
    11 significant bits (the drift is measured against the float64 sampling positions, in pixels)."""
    al = Aligner(128)
    kp = np.array([[1500, 800], [1600, 800], [1550, 860], [1510, 920], [1590, 920]], np.float32)
    theta = torch.from_numpy(warp_thetas(al.transform(kp)[None], (1080, 1920), 128))
    exact = F.affine_grid(theta.double(), (1, 3, 128, 128), align_corners=True)
    to_px = torch.tensor([1919 / 2, 1079 / 2], dtype=torch.float64)
    fp32 = F.affine_grid(theta, (1, 3, 128, 128), align_corners=True).double()
    fp16 = exact.to(torch.float16).double()  # what an FP16 grid holds, at best
    assert ((fp32 - exact).abs() * to_px).max() < 0.01
    assert ((fp16 - exact).abs() * to_px).max() > 0.1


def test_frame_params_is_one_copy_of_fixed_slots():
    slots = {"theta": ((4, 2, 3), np.float32), "alpha": ((4,), np.float32), "mask": ((4, 8, 8), np.uint8)}
    p = FrameParams("cpu", slots, last="mask")
    addresses = {k: v.data_ptr() for k, v in p.dev.items()}
    assert all(a % 64 == 0 for a in addresses.values()) and max(addresses, key=addresses.get) == "mask"
    for frame in range(2):
        p.begin()
        p.host["theta"][:2] = frame + np.arange(12).reshape(2, 2, 3)
        p.host["alpha"][:2] = (0.5, frame)
        p.host["mask"][:2] = frame + 1
        p.upload(rows_of_last=2)
        assert {k: v.data_ptr() for k, v in p.dev.items()} == addresses  # graphs may read them
        assert np.array_equal(p.dev["theta"][:2].numpy(), p.host["theta"][:2])
        assert p.dev["alpha"][:2].tolist() == [0.5, frame] and p.dev["mask"].dtype == torch.uint8
        assert (p.dev["mask"][:2] == frame + 1).all() and not p.dev["mask"][2:].any()  # only the rows in use
