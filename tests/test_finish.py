"""The skin finish (livefilter.finish) and its measures (training/eval/finish.py).

A constructed face (a skin patch with added noise, dark eyes, brows and lips drawn on a real face's
landmarks) for what has a known answer; real faces from ../shared/data of lighter and darker skin, a
bearded one and one with glasses for what the finish must leave alone.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import shared_path
from livefilter.errors import SettingError
from livefilter.finish.geometry import FaceBox, face_maps
from livefilter.finish.host import SkinFinish
from livefilter.finish.settings import FinishSettings
from livefilter.looks.region_stats import to_lab
from livefilter.detect.topology import BROWS, LIPS, LOWER_LID, UPPER_LID
from training.eval import finish as F

LIGHTER = ("deepface_tests", "img11.jpg")
DARKER = ("vtoonify_data", "yRpe13BHdKw.jpg")
BEARD = ("deepface_tests", "img61.jpg")
GLASSES = ("deepface_tests", "img25.jpg")


def _face(folder: str, name: str):
    from livefilter.demo.clip import load_rgb

    img = load_rgb(shared_path("faces", folder, name))
    found = F.photo_faces([img])
    assert found, f"no face found in {name}"
    return img, found[0][1].landmarks


@pytest.fixture(scope="module")
def landmarks():
    return _face(*LIGHTER)


def constructed(lm: np.ndarray, shape, noise: float = 8.0, seed: int = 0) -> np.ndarray:
    """A flat skin colour with Gaussian texture, dark eyes, brows and lips drawn on ``lm``."""
    rng = np.random.default_rng(seed)
    img = np.empty(shape, np.float32)
    img[:] = (196, 148, 122)
    texture = cv2.GaussianBlur(rng.normal(0, noise, shape[:2]).astype(np.float32), (0, 0), 1.2) * 2.5
    img += texture[..., None]
    polys = [np.concatenate([lm[list(UPPER_LID[s])], lm[list(LOWER_LID[s])][::-1]]) for s in (0, 1)]
    polys += [lm[list(BROWS[s])] for s in (0, 1)] + [lm[list(LIPS)]]
    cv2.fillPoly(img, [np.round(p).astype(np.int32) for p in polys], (40, 30, 28), cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def _finished(img, lm, strength, under_eye=0.0):
    out = img.copy()
    SkinFinish().apply(out, [lm], FinishSettings(strength, under_eye))
    return out


def test_a_noisy_skin_patch_gets_smoother_while_the_eyes_and_brows_keep_their_edges(landmarks):
    img, lm = landmarks
    src = constructed(lm, img.shape)
    reg = F.finish_regions(lm, img.shape[:2])
    fw = float(np.linalg.norm(lm[234] - lm[454]))
    L0 = to_lab(src)[..., 0]
    reductions = []
    for s in (0.5, 1.0):
        L1 = to_lab(_finished(src, lm, s))[..., 0]
        reductions.append(1 - F.band_energy(L1, reg["texture"], fw) / F.band_energy(L0, reg["texture"], fw))
        for name in ("eyes", "brows"):
            assert F.gradient_energy(L1, reg[name]) >= 0.9 * F.gradient_energy(L0, reg[name])
    assert reductions[1] >= 0.4  # strength 1: at least 40 % of the skin's texture energy gone
    assert 0.2 * reductions[1] < reductions[0] < reductions[1]  # less at half strength


def test_mean_lightness_and_colour_are_kept_on_a_constructed_face(landmarks):
    img, lm = landmarks
    src = constructed(lm, img.shape)
    out = _finished(src, lm, 1.0)
    skin = F.finish_regions(lm, img.shape[:2])["skin"].astype(bool)
    d = (to_lab(out) - to_lab(src))[skin].mean(0)
    assert abs(d[0]) <= 1.0 and abs(d[1]) <= 1.5 and abs(d[2]) <= 1.5, d
    assert np.abs(out.astype(int) - src).max() > 3  # and it did change the skin


@pytest.mark.parametrize("photo", [LIGHTER, DARKER])
def test_real_faces_keep_their_skin_tone_and_features(photo):
    img, lm = _face(*photo)
    for s in (0.5, 1.0):
        out = _finished(img, lm, s)
        m = F.face_finish(img, out, lm).values
        assert abs(m["skin_delta_l"]) <= 1.0 and abs(m["skin_delta_a"]) <= 1.5 and abs(m["skin_delta_b"]) <= 1.5, m
        assert m["hf_reduction"] > 0.1 * s, m
        assert min(m["eyes_kept"], m["brows_kept"], m["lips_kept"]) >= 0.9, m
        assert m["seam"] <= 1.05, m
        # the eye openings and lips are not touched at all
        reg = F.finish_regions(lm, img.shape[:2])
        for name in ("eyes", "lips"):
            assert np.array_equal(out[reg[name].astype(bool)], img[reg[name].astype(bool)]), name


@pytest.mark.parametrize("photo", [BEARD, GLASSES])
def test_a_beard_and_glasses_stay_sharp(photo):
    img, lm = _face(*photo)
    out = _finished(img, lm, 1.0)
    L0, L1 = to_lab(img)[..., 0], to_lab(out)[..., 0]
    fw = float(np.linalg.norm(lm[234] - lm[454]))
    reg = F.finish_regions(lm, img.shape[:2])
    beard = F.beard_region(L0, reg, fw)
    assert beard.sum() >= F.MIN_BEARD_SHARE * reg["oval"].sum()  # both faces have a beard
    assert F.gradient_energy(L1, beard) >= 0.9 * F.gradient_energy(L0, beard)
    # the skin between the beard and the eyes still got smoother
    assert F.face_finish(img, out, lm).values["hf_reduction"] > 0.2


def test_glasses_frames_are_not_skin():
    img, lm = _face(*GLASSES)
    box = FaceBox.of(lm, img.shape[1], img.shape[0])
    maps = face_maps(box, lm)
    from livefilter.finish.host import Scratch, guided_luma, skin_likelihood, radius
    from livefilter.finish.colour import YCC
    from livefilter.finish.settings import GUIDE_RADIUS

    x = cv2.resize(img[box.y0:box.y1, box.x0:box.x1], (box.work_w, box.work_h), interpolation=cv2.INTER_AREA)
    ycc = cv2.transform(x.astype(np.float32), YCC)
    ws = Scratch()
    _, spread = guided_luma(np.ascontiguousarray(ycc[..., 0]), radius(128, GUIDE_RADIUS), ws)
    p = skin_likelihood(ycc, spread, maps, ws)
    dark_frame = (ycc[..., 0] < 50) & (maps[0] > 0.5)  # the black frame where it crosses the skin map
    assert dark_frame.sum() > 20
    assert p[dark_frame].mean() < 0.3
    assert p[maps[1] > 0].mean() > 0.7  # the cheeks are skin


def test_the_under_eye_lift_only_lightens_under_the_eyes(landmarks):
    img, lm = landmarks
    out = _finished(img, lm, 0.0, under_eye=1.0)
    diff = out.astype(int) - img
    assert diff.min() >= -1  # lifted, never darkened (rounding aside)
    assert diff.max() > 2
    changed = np.argwhere(np.abs(diff).max(-1) > 1)
    lids_top = lm[list(UPPER_LID[0] + UPPER_LID[1]), 1].min()
    assert changed[:, 0].min() >= lids_top  # nothing above the eyes
    assert changed[:, 0].max() <= lm[list(LIPS), 1].min()  # nor below the cheeks' top half


def test_strength_zero_changes_nothing_and_bad_settings_are_refused(landmarks):
    img, lm = landmarks
    assert np.array_equal(_finished(img, lm, 0.0), img)
    for bad in (-0.1, 1.5, float("nan"), "1", True):
        with pytest.raises(SettingError):
            FinishSettings(strength=bad).validate()
        with pytest.raises(SettingError):
            FinishSettings(under_eye=bad).validate()


def test_faces_at_the_frame_edge_and_tiny_faces(landmarks):
    img, lm = landmarks
    shifted = lm - (lm[:, 0].min() + 40, 0)  # half the face off the left edge
    out = img.copy()
    assert SkinFinish().apply(out, [shifted, lm * 0.02], FinishSettings(1.0)) == 1  # the tiny one is skipped
    assert FaceBox.of(lm + 10_000, img.shape[1], img.shape[0]) is None


def test_the_measures_see_a_known_change(landmarks):
    img, lm = landmarks
    reg = F.finish_regions(lm, img.shape[:2])
    brighter = img.astype(np.int16)
    brighter[reg["skin"].astype(bool)] += 6
    m = F.face_finish(img, np.clip(brighter, 0, 255).astype(np.uint8), lm).values
    assert m["skin_delta_l"] > 1.5  # whitening is seen
    blurred = cv2.GaussianBlur(img, (0, 0), 2)
    m = F.face_finish(img, blurred, lm).values
    assert m["hf_reduction"] > 0.15 and m["eyes_kept"] < 0.9  # a plain blur smooths and loses the eyes


def test_the_host_pipeline_finishes_the_skin_of_a_look_with_a_finish():
    """soft-glow carries a finish in its look.json; the pipeline applies it after the look, at full
    resolution, and a live change of the finish takes effect on the next frame."""
    from livefilter.looks.registry import LookRegistry
    from training.eval.placement import host_pipeline

    look = LookRegistry().get("soft-glow")
    assert look.finish.strength > 0
    img, lm = _face(*LIGHTER)
    p = host_pipeline("soft-glow", max_faces=1)
    p.update(finish=look.finish)
    p.tracker.reset()
    with_finish = p.process(img.copy())
    p.update(finish=FinishSettings())
    p.tracker.reset()
    without = p.process(img.copy())
    (face,) = p.last_faces
    reg = F.finish_regions(face.landmarks, img.shape[:2])
    L_with, L_without = to_lab(with_finish)[..., 0], to_lab(without)[..., 0]
    fw = float(np.linalg.norm(face.landmarks[234] - face.landmarks[454]))
    assert F.band_energy(L_with, reg["texture"], fw) < 0.85 * F.band_energy(L_without, reg["texture"], fw)
    eyes = reg["eyes"].astype(bool)
    assert np.array_equal(with_finish[eyes], without[eyes])
    assert "finish" in p.stats.summary()
    with pytest.raises(SettingError):
        p.update(finish=FinishSettings(strength=2.0))


def test_a_look_json_finish_is_validated(tmp_path):
    import json

    from livefilter.errors import LookError
    from livefilter.looks.pack import parse_manifest
    from livefilter.looks.registry import LookRegistry

    d = json.loads((LookRegistry().get("natural").root / "look.json").read_text())
    assert parse_manifest(d, tmp_path).finish == FinishSettings(0.4, 0.2)
    for bad in ({"strength": 2}, {"strength": float("nan")}, {"under_eye": -0.1}, {"sharpen": 1}, "high", [1]):
        with pytest.raises(LookError, match="finish"):
            parse_manifest(d | {"finish": bad}, tmp_path)


# -- host and device ---------------------------------------------------------------------------------
@pytest.mark.parametrize("photo", [LIGHTER, DARKER, BEARD])
def test_the_device_twin_finishes_as_the_host_does(photo, one_torch_thread):
    torch = pytest.importorskip("torch")
    from livefilter.finish.device import DeviceSkinFinish

    img, lm = _face(*photo)
    for settings in (FinishSettings(1.0, 0.5), FinishSettings(0.5, 0.0), FinishSettings(0.0, 1.0)):
        host = _finished(img, lm, settings.strength, settings.under_eye)
        frame = torch.from_numpy(img.copy())
        assert DeviceSkinFinish("cpu").apply(frame, [lm], settings) == 1
        diff = np.abs(host.astype(int) - frame.numpy())
        assert (host != img).sum() > 1000  # the host changed the skin ...
        # ... and the device did the same (to a level, on a few pixels: float rounding)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.001, settings


def test_the_device_pipeline_applies_the_finish(one_torch_thread):
    pytest.importorskip("torch")
    from livefilter.looks.registry import LookRegistry
    from livefilter.pipeline.device import device_pipeline
    from livefilter.pipeline.host import LiveControls, Pipeline
    from livefilter.pipeline.session import PipelineSettings, make_tracker
    from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
    from livefilter.translate.torch_backend import TorchCudaTranslator
    from livefilter.types import Tracked

    img, _ = _face(*LIGHTER)
    reg = LookRegistry()
    controls = LiveControls(look="natural", finish=FinishSettings(1.0, 0.5))
    tracker = make_tracker(PipelineSettings(detect_every=1, max_faces=1))
    host = Pipeline(tracker, reg.get, lambda lk: OnnxRuntimeTranslator(lk), controls, max_faces=1)
    dev = device_pipeline(tracker, reg.get, lambda lk: TorchCudaTranslator(lk, device="cpu", precision="fp32"),
                          controls, max_faces=1, device="cpu")
    faces = tracker.update(img)
    a, b = host.process(img.copy(), Tracked(faces)), dev.process(img.copy(), Tracked(faces))
    assert dev.stats.passthrough == 0 and "finish" in dev.stats.summary()
    assert np.abs(a.astype(int) - b).mean() < 0.4
    dev.update(finish=FinishSettings())
    plain = dev.process(img.copy(), Tracked(faces))
    reg_ = F.finish_regions(faces[0].landmarks, img.shape[:2])
    fw = float(np.linalg.norm(faces[0].landmarks[234] - faces[0].landmarks[454]))
    L_b, L_plain = to_lab(b)[..., 0], to_lab(plain)[..., 0]
    assert F.band_energy(L_b, reg_["texture"], fw) < 0.8 * F.band_energy(L_plain, reg_["texture"], fw)
