"""The device compositor reproduces the CPU path (run on the CPU device here, on CUDA when present)."""

import cv2
import numpy as np
import pytest

from conftest import cuda_available, read_rgb, shared_path
from livefilter.align.host import Aligner
from livefilter.composite.blend import Blender
from livefilter.looks.pack import ColorEdits

torch = pytest.importorskip("torch")

from livefilter.align.device import back_thetas, faces_region, warp_thetas
from livefilter.composite.device_compositor import DeviceCompositor  # noqa: E402
from livefilter.composite.crop_stage import CropStage  # noqa: E402
from livefilter.gpu.frames import DeviceFrameBuffer  # noqa: E402


def _case():
    img = cv2.resize(read_rgb(shared_path("faces", "deepface_tests", "img1.jpg")), (384, 512))
    al = Aligner(128)
    kp = np.array([[150, 200], [230, 200], [190, 250], [160, 300], [220, 300]], np.float32)
    kp2 = kp * 0.5 + np.array([10, 300], np.float32)
    mats = np.stack([al.transform(kp), al.transform(kp2)])
    return img, al, mats


def _upload(comp, img, device):
    """The pipeline's upload: the frame into a device frame buffer, bound to the compositor."""
    buf = DeviceFrameBuffer(img.shape[0], img.shape[1], device, torch.float32)
    buf.load(img)
    comp.bind(buf.frame_f, buf.frame)
    return buf


def _warp(comp, mats):
    """The aligned crops, as the device pipeline warps them (thetas computed on the host)."""
    return comp.warp_theta(torch.from_numpy(warp_thetas(mats, (comp.h, comp.w), comp.size)).to(comp.device))


def _blend(comp, styled, crops, mats, alphas, masks):
    """The premultiplied delta (the crop stage's output) composited over the faces' rectangle."""
    n = len(mats)
    a = torch.as_tensor(np.asarray(alphas, np.float32), device=comp.device).view(n, 1, 1, 1)
    delta = (styled - crops) * masks * a
    region = faces_region(mats, comp.size, comp.h, comp.w)
    theta = torch.from_numpy(back_thetas(mats, region, comp.size)).to(comp.device)
    return comp.blend_delta(delta, region, theta)


def _run(device):
    img, al, mats = _case()
    blender = Blender(al.template, al.size)
    comp = DeviceCompositor(img.shape[0], img.shape[1], al.size, blender.mask, max_faces=4, device=device,
                            dtype=torch.float32)
    _upload(comp, img, device)
    crops = _warp(comp, mats)
    styled = (crops + torch.tensor([40.0, -10.0, -10.0], device=crops.device).view(1, 3, 1, 1)).clamp(0, 255)
    out = _blend(comp, styled, crops, mats, np.array([1.0, 0.5]), comp.mask).cpu().numpy()
    # CPU path with the same stylisation
    ref_crops = al.warp(img, mats)
    ref_styled = np.clip(ref_crops.astype(int) + np.array([40, -10, -10]), 0, 255).astype(np.uint8)
    ref = img.copy()
    blender.blend(ref, ref_crops, ref_styled, mats, np.array([1.0, 0.5]))
    return img, out, ref, crops, ref_crops


def test_warp_matches_opencv():
    _, _, _, crops, ref_crops = _run("cpu")
    got = crops.permute(0, 2, 3, 1).round().clamp(0, 255).byte().numpy()
    inner = (slice(None), slice(8, -8), slice(8, -8))  # borders differ only in the padding rule
    assert np.abs(got[inner].astype(int) - ref_crops[inner]).mean() < 1.0


def test_composite_matches_the_cpu_blender():
    img, out, ref, _, _ = _run("cpu")
    diff = np.abs(out.astype(int) - ref)
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 3
    assert (out != img).any()


def test_pixel_formats_and_edits_match_cpu():
    img, al, mats = _case()
    comp = DeviceCompositor(img.shape[0], img.shape[1], al.size, np.ones((128, 128), np.float32), device="cpu",
                            dtype=torch.float32)
    comp.out.copy_(torch.from_numpy(img))
    i420 = comp.to_pixel_format("I420").numpy()
    ref = cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420)
    assert np.abs(i420.astype(int) - ref).mean() < 1.5
    nv12 = comp.to_pixel_format("NV12").numpy()
    back = cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12)
    assert np.abs(back.astype(int) - img).mean() < 6
    from livefilter.composite.blend import ColorEditor

    crops = np.random.default_rng(0).integers(30, 220, (2, 16, 16, 3), np.uint8)
    e = ColorEdits(brightness=0.2, contrast=0.1, warmth=0.5)
    cpu = crops.copy()
    ColorEditor().apply(cpu, e)
    # the device edits run in the crop stage: against zero crops, a full mask and alpha 1 its delta
    # is the edited crop itself
    stage = CropStage(16, np.ones((16, 16), np.float32), 1.0, 2, "cpu", 1, graphs=False)
    p = stage.params
    p.begin()
    p.host["alpha"][:2], p.host["have"][:2] = 1.0, 0.0  # no landmarks: the template mask (all ones)
    p.host["edits"][:] = (e.contrast, e.brightness, e.warmth, e.saturation)
    p.upload(rows_of_last=2)
    main, lips = stage.run(torch.from_numpy(crops).permute(0, 3, 1, 2).float(), 2)
    assert not lips.any()  # no placement: no lip layer
    dev = main.permute(0, 2, 3, 1).numpy()
    assert np.abs(dev - cpu).max() <= 1 and (dev != crops).any()


@pytest.mark.gpu
def test_cuda_compositor_matches_cpu_path():
    assert cuda_available()
    img, out, ref, _, _ = _run("cuda")
    diff = np.abs(out.astype(int) - ref)
    assert diff.mean() < 0.5


def _full_frame_blend(comp, styled, crops, mats, alphas, masks):
    """The composite without the face rectangle: every face warped back over the whole frame."""
    import torch.nn.functional as F

    from livefilter.align.device import affine_to_theta

    n = len(mats)
    a = torch.tensor(alphas, dtype=torch.float32).view(n, 1, 1, 1)
    delta = (styled - crops) * masks * a
    theta = torch.from_numpy(affine_to_theta(mats, (comp.size, comp.size), (comp.h, comp.w)))
    grid = F.affine_grid(theta, (n, 3, comp.h, comp.w), align_corners=False)
    back = F.grid_sample(delta, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    full = (comp.frame_f[0] + back.sum(0)).clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0)
    return full.numpy(), back.abs().sum((0, 1)).numpy()


@pytest.mark.parametrize("case", ["two faces", "one face half outside", "one face outside"])
def test_compositing_only_the_face_rectangle_changes_nothing(case):
    img, al, mats = _case()
    if case == "one face half outside":
        mats = mats[:1].copy()
        mats[0, :, 2] += mats[0, :, :2] @ np.array([-200.0, 0.0])  # the face moved 200 px left
    elif case == "one face outside":
        mats = mats[:1].copy()
        mats[0, :, 2] += mats[0, :, :2] @ np.array([5000.0, 0.0])
    n = len(mats)
    comp = DeviceCompositor(img.shape[0], img.shape[1], al.size, np.ones((128, 128), np.float32), device="cpu",
                            dtype=torch.float32)
    _upload(comp, img, "cpu")
    crops = _warp(comp, mats).clone()
    styled = (crops * 0.6 + torch.tensor([90.0, 10.0, 40.0]).view(1, 3, 1, 1)).clamp(0, 255)
    masks = torch.rand(n, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    alphas = np.linspace(1.0, 0.6, n).astype(np.float32)
    want, footprint = _full_frame_blend(comp, styled, crops, mats, alphas, masks)
    got = _blend(comp, styled, crops, mats, alphas, masks).numpy()
    y0, x0, h, w = faces_region(mats, 128, img.shape[0], img.shape[1])
    inside = np.zeros(footprint.shape, bool)
    inside[y0:y0 + h, x0:x0 + w] = True
    assert not (footprint[~inside] > 0).any()  # nothing of any face lands outside the rectangle
    diff = np.abs(got.astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4
    if case == "one face outside":
        assert h * w == 0 and np.array_equal(got, img)
    else:
        assert 0 < h * w < img.shape[0] * img.shape[1] and (got != img).any()
