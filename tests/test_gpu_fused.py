"""Fused compositor tails (torch.compile) give the eager result; a compiler failure falls back."""

import logging

import cv2
import numpy as np
import pytest

from conftest import cuda_available, read_rgb, shared_path

torch = pytest.importorskip("torch")

from livefilter.composite import fused  # noqa: E402
from livefilter.composite.device_compositor import DeviceCompositor  # noqa: E402
from livefilter.composite.fused import Fuser, composite, composite_into, planar_into, yuv420_planes  # noqa: E402


def _frame(h=96, w=128):
    return cv2.resize(read_rgb(shared_path("faces", "deepface_tests", "img1.jpg")), (w, h))


def _inputs(device, h=96, w=128):
    img = _frame(h, w)
    rng = np.random.default_rng(3)
    frame_f = torch.from_numpy(img).permute(2, 0, 1)[None].float().to(device)
    back = torch.from_numpy(rng.normal(0, 40, (2, 3, h, w)).astype(np.float32)).to(device)
    return img, frame_f, back


def test_the_eager_tails_match_opencv_and_numpy():
    img, frame_f, back = _inputs("cpu")
    out = torch.empty((96, 128, 3), dtype=torch.uint8)
    composite_into(out, frame_f, back)
    ref = np.clip(np.round(img + back.sum(0).permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8)
    assert np.abs(out.numpy().astype(int) - ref).max() <= 1
    planar = torch.empty((144, 128), dtype=torch.uint8)
    planar_into(planar, torch.from_numpy(img), nv12=False)
    i420 = cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420)
    assert np.abs(planar.numpy().astype(int) - i420).mean() < 1.0
    planar_into(planar, torch.from_numpy(img), nv12=True)
    back_rgb = cv2.cvtColor(planar.numpy(), cv2.COLOR_YUV2RGB_NV12)
    assert np.abs(back_rgb.astype(int) - img).mean() < 4.0


def test_a_fuser_that_is_off_never_compiles(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("compiled"))
    img, frame_f, back = _inputs("cpu")
    out = torch.empty((96, 128, 3), dtype=torch.uint8)
    composite_into(out, frame_f, back, Fuser(False))
    assert out.any()


def test_a_compiler_failure_runs_the_eager_kernel_and_warns_once(monkeypatch, caplog):
    calls = []

    def broken_compile(fn, **kwargs):
        def run(*a, **k):
            calls.append(fn.__name__)
            raise RuntimeError("InductorError: no working C++ compiler found\ndetails")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(Fuser, "_compiled", {})
    monkeypatch.setattr(Fuser, "_broken", set())
    img, frame_f, back = _inputs("cpu")
    out, ref = torch.empty((96, 128, 3), dtype=torch.uint8), torch.empty((96, 128, 3), dtype=torch.uint8)
    composite_into(ref, frame_f, back)
    with caplog.at_level(logging.WARNING, logger=fused.__name__):
        for _ in range(3):
            out.zero_()
            composite_into(out, frame_f, back, Fuser(True))
            assert torch.equal(out, ref)
    assert calls == ["composite"]  # tried once, then eager
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no working C++ compiler" in warnings[0] and "\n" not in warnings[0]


def test_the_pipeline_fuses_on_cuda_only_unless_asked():
    from livefilter.pipeline.session import PipelineSettings, build_pipeline

    assert build_pipeline(PipelineSettings(backend="torch-cpu")).styling.fuse is False
    assert build_pipeline(PipelineSettings(backend="torch-cpu", fuse=True)).styling.fuse is True


def _compare_fused(device):
    img, frame_f, back = _inputs(device)
    eager, fused_out = (torch.empty((96, 128, 3), dtype=torch.uint8, device=device) for _ in range(2))
    composite_into(eager, frame_f, back)
    composite_into(fused_out, frame_f, back, Fuser(True))
    assert (eager.int() - fused_out.int()).abs().max().item() <= 1
    rgb = torch.from_numpy(img).to(device)
    for nv12 in (False, True):
        a, b = (torch.empty((144, 128), dtype=torch.uint8, device=device) for _ in range(2))
        planar_into(a, rgb, nv12)
        planar_into(b, rgb, nv12, Fuser(True))
        assert (a.int() - b.int()).abs().max().item() <= 1
    assert composite not in Fuser._broken and yuv420_planes not in Fuser._broken, "the compiler failed (see the warning)"


@pytest.mark.slow  # compiling three kernels with the C++ backend takes about a minute on two cores
def test_compiled_tails_equal_the_eager_ones_on_the_cpu():
    _compare_fused("cpu")


@pytest.mark.gpu
def test_compiled_tails_equal_the_eager_ones_on_cuda():
    assert cuda_available()
    _compare_fused("cuda")
    comp = DeviceCompositor(96, 128, 128, np.ones((128, 128), np.float32), device="cuda", fuse=True)
    comp.out.copy_(torch.from_numpy(_frame()).cuda())
    ref = cv2.cvtColor(_frame(), cv2.COLOR_RGB2YUV_I420)
    assert np.abs(comp.to_pixel_format("I420").cpu().numpy().astype(int) - ref).mean() < 1.5
