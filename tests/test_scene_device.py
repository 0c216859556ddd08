"""The scene stage's device twins on torch's CPU device, against the host versions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livefilter.scene.background import BackgroundConfig, BackgroundStage, Compositor  # noqa: E402
from livefilter.scene.device_compose import DeviceBackground, apply_table, composite, device_grade_table  # noqa: E402
from livefilter.scene.device_segment import DevicePersonSegmenter  # noqa: E402
from livefilter.scene.device_stage import DeviceSceneStage  # noqa: E402
from livefilter.scene.grade import KNOT_X, Grade, grade_table  # noqa: E402
from livefilter.scene.segment import PersonSegmenter, SegmentConfig  # noqa: E402
from livefilter.scene.stage import LookScene, SceneControls, SceneStage  # noqa: E402
from livefilter.types import Face  # noqa: E402
from tests.conftest import decode_range  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frames():
    return decode_range(("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4"), 0, 4)


def _grade(**kw):
    curves = tuple(tuple(float(np.clip(x + d * np.sin(np.pi * x / 255), 0, 255)) for x in KNOT_X) for d in (25, 4, -20))
    return Grade(curves=curves, **kw)


def test_device_mask_matches_host(frames):
    cfg = SegmentConfig(smoothing=0.6)
    host, dev = PersonSegmenter(cfg), DevicePersonSegmenter(cfg, "cpu")
    for f in frames:
        h = host(f).copy()
        d = dev(torch.from_numpy(f)).numpy()
        np.testing.assert_allclose(dev.raw.numpy(), host.raw, atol=5e-3)  # float32 kernels differ (measured <= 2.6e-3)
    assert np.abs(d - h).mean() < 2e-3 and np.abs(d - h).max() < 0.05


def test_device_mask_skips_the_network_where_the_host_does():
    """Steady frames, then a cut: the host skips the network on every other frame unless the frame
    changed a lot; the device decides the same on the device (torch.where) and gives the same masks
    and blur layers."""
    steady = decode_range(("video", "deepfacelive", "Obama_speaking.mp4"), 0, 5)
    frames = steady + [np.ascontiguousarray(steady[-1][::-1])]  # the last one: a cut
    host, dev = PersonSegmenter(SegmentConfig()), DevicePersonSegmenter(SegmentConfig(), "cpu")
    bg_h, bg_d = BackgroundStage(BackgroundConfig("blur", 0.7)), DeviceBackground(BackgroundConfig("blur", 0.7), "cpu")
    fresh_h, fresh_d = [], []
    for f in frames:
        h = host(f).copy()
        layer_h = bg_h.layer(f, h, low=host.low).copy()
        tf = torch.from_numpy(f)
        d = dev(tf)
        layer_d = bg_d.layer(tf, d, low=dev.low).numpy()
        fresh_h.append(bool(host.low.fresh))
        fresh_d.append(bool(dev.low.fresh))
        assert np.abs(d.numpy() - h).mean() < 2e-3
        assert np.abs(layer_d.astype(int) - layer_h).mean() < 1.0
    assert fresh_h == [True, False, True, False, True, True]  # the cut at an odd frame runs the network
    assert fresh_d == fresh_h


def test_device_grade_table_matches_host():
    g = _grade()
    skin = np.array([185.0, 132.0, 110.0])
    for strength, s in ((1.0, None), (0.6, skin)):
        host = grade_table(g, strength, s)[0].astype(int)
        dev = device_grade_table(g, strength, None if s is None else torch.from_numpy(s), "cpu").numpy().astype(int)
        assert np.abs(host - dev).max() <= 1


def test_device_blur_and_composite_match_host(frames):
    f = frames[0]
    mask = PersonSegmenter(SegmentConfig(smoothing=0.0))(f).copy()
    host = BackgroundStage(BackgroundConfig("blur", 0.7))
    layer_h = host.layer(f, mask).copy()
    out_h = Compositor()(f, layer_h, mask, np.empty_like(f))
    dev = DeviceBackground(BackgroundConfig("blur", 0.7), "cpu")
    tf, tm = torch.from_numpy(f), torch.from_numpy(mask)
    layer_d = dev.layer(tf, tm).numpy()
    assert np.abs(layer_d.astype(int) - layer_h).max() <= 3
    out_d = composite(tf, torch.from_numpy(layer_h), tm, torch.empty_like(tf)).numpy()
    assert np.abs(out_d.astype(int) - out_h).max() <= 2


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_device_scene_stage_matches_host(frames, device):
    face = Face(box=np.array([420, 140, 700, 480], np.float32), score=1.0, keypoints=np.zeros((5, 2), np.float32))
    look = LookScene(grade=_grade(region="frame"))
    controls = SceneControls(background="blur", blur=0.5)
    host, dev = SceneStage(SegmentConfig(smoothing=0.0)), DeviceSceneStage(SegmentConfig(smoothing=0.0), device)
    out_h = host.apply(frames[1].copy(), [face], controls, look)
    out_d = dev.apply(torch.from_numpy(frames[1].copy()).to(device), [face], controls, look).cpu().numpy()
    diff = np.abs(out_d.astype(int) - out_h)
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 4
    assert np.abs(out_h.astype(int) - frames[1]).mean() > 2  # something happened at all


def test_apply_table_is_a_lut():
    x = torch.arange(256, dtype=torch.uint8).repeat(3, 1).T.reshape(16, 16, 3).contiguous()
    table = torch.flip(torch.arange(256, dtype=torch.uint8), [0]).repeat(3, 1).T.contiguous()
    out = apply_table(x, table, torch.empty_like(x))
    assert (out.int() + x.int() == 255).all()
