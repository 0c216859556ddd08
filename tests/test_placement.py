"""Makeup placement (livefilter.composite.placement and its device twin) and the full-resolution placement measures.

Real faces with open mouths from ../shared/data, the real shipped looks through the host pipeline and the
device pipeline on the CPU device; constructed edits for the measures, whose right answers are known.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from conftest import shared_path
from livefilter.looks.code import LookCode
from livefilter.composite.placement import (CropMaps, PlacementSpec, mirror_affine, mirror_plan, normalised_fill, LID_PAIRS,
                                  MAP_COUNT)
from training.eval import placement as P

OPEN_MOUTH = ("dualstylegan_content", "019706.jpg")  # a smile with teeth showing
OPEN_MOUTH_2 = ("liveportrait_driving_frames", "d19.jpg")


def _photo(folder: str, name: str) -> np.ndarray:
    from livefilter.demo.clip import load_rgb

    return load_rgb(shared_path("faces", folder, name))


@pytest.fixture(scope="module")
def glam():
    shared_path()
    return P.host_pipeline("glam", max_faces=1)


def _styled(pipeline, image: np.ndarray):
    pipeline.tracker.reset()
    out = pipeline.process(image.copy())
    (face,) = pipeline.last_faces
    return out, face.landmarks


def _delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from livefilter.looks.region_stats import to_lab

    return np.sqrt(((to_lab(a) - to_lab(b)) ** 2).sum(-1))


@pytest.mark.parametrize("photo", [OPEN_MOUTH, OPEN_MOUTH_2])
def test_an_open_mouth_keeps_its_teeth_and_the_lip_line_holds(glam, photo):
    img = _photo(*photo)
    out, lm = _styled(glam, img)
    reg = P.frame_regions(lm, img.shape[:2])
    de = _delta_e(img, out)
    assert reg["mouth"].sum() > 400  # the mouth is open
    assert de[reg["mouth"].astype(bool)].mean() < 1.0  # teeth and tongue never take lipstick
    assert de[reg["lips"].astype(bool)].mean() > 10.0  # the lips do
    assert de[reg["band"].astype(bool)].mean() < 1.0  # the skin just past the lip line is unchanged


def test_a_makeup_look_leaves_the_nose_and_the_under_eyes_alone(glam):
    img = _photo(*OPEN_MOUTH)
    out, lm = _styled(glam, img)
    reg = P.frame_regions(lm, img.shape[:2])
    dl = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)[..., 0].astype(float) - cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[..., 0]
    under = (reg["under_eye_left"] | reg["under_eye_right"]).astype(bool)
    assert abs(dl[under].mean()) * 100 / 255 < 1.0  # no bruise under the eyes
    nose = np.zeros(img.shape[:2], np.uint8)  # bridge to tip, between the nostrils
    cv2.fillPoly(nose, [np.round(lm[[168, 48, 4, 278]]).astype(np.int32)], 1)
    assert _delta_e(img, out)[nose.astype(bool)].mean() < 1.0  # glam paints no nose


def test_a_mirrored_face_gets_mirrored_makeup(glam):
    img = _photo(*OPEN_MOUTH)
    out, lm = _styled(glam, img)
    flipped_out, flm = _styled(glam, np.ascontiguousarray(img[:, ::-1]))
    back = np.ascontiguousarray(flipped_out[:, ::-1])  # the mirrored face's makeup, mirrored back
    reg = P.frame_regions(lm, img.shape[:2])
    from livefilter.looks.region_stats import to_lab

    lab0, lab_a, lab_b = to_lab(img), to_lab(out), to_lab(back)
    for name in ("lips", "lid_left", "lid_right", "cheek_left", "cheek_right"):
        m = reg[name].astype(bool)
        change_a = lab_a[m].mean(0) - lab0[m].mean(0)
        change_b = lab_b[m].mean(0) - lab0[m].mean(0)
        # the same makeup on each region whichever way round the face is (within 25 % of its size)
        assert np.linalg.norm(change_a - change_b) <= 0.25 * max(np.linalg.norm(change_a), 2.3), name


def test_both_lids_and_both_cheeks_get_the_same_makeup(glam):
    img = _photo(*OPEN_MOUTH)
    out, lm = _styled(glam, img)
    values = P.face_placement(img, out, lm).values
    assert values["lid_asymmetry"] < 0.25 and values["cheek_asymmetry"] < 0.25


def test_the_look_code_decides_where_a_look_may_paint():
    glam_like = PlacementSpec.of(LookCode(lips_opacity=1.0, shadow_opacity=1.0, blush_opacity=1.0))
    assert not glam_like.whole_face and glam_like.lips and glam_like.eyes and glam_like.blush
    assert not glam_like.brows and not glam_like.contour and not glam_like.highlight
    assert PlacementSpec.of(LookCode(paint=1.0)).whole_face
    assert PlacementSpec.of(LookCode(skin_opacity=0.5)).whole_face
    assert not PlacementSpec.of(LookCode(shadow_opacity=1.0)).lips
    assert PlacementSpec.of(None).whole_face  # a look without a family code may paint the whole face


def test_normalised_fill_extends_a_region_without_what_lies_beyond():
    x = np.zeros((64, 64, 3), np.float32)
    x[:, :32] = (10.0, -20.0, 5.0)  # the region's residual
    x[:, 32:] = (99.0, 99.0, 99.0)  # beyond it: must not leak in
    core = np.zeros((64, 64), np.float32)
    core[:, 8:28] = 1.0
    out = normalised_fill(x, core, 19, 3.0, np.empty_like(x))
    assert np.allclose(out[:, 20], (10.0, -20.0, 5.0), atol=1e-3)  # inside: its own value
    assert np.allclose(out[:, 30], (10.0, -20.0, 5.0), atol=1e-2)  # extended past the core, unmixed
    assert np.abs(out[:, 60]).max() < 1.0  # far away: fades to nothing


def test_the_mirror_affine_takes_each_side_onto_the_other():
    img = _photo(*OPEN_MOUTH)
    from livefilter.pipeline.session import PipelineSettings, make_tracker

    (face,) = make_tracker(PipelineSettings(detect_every=1, max_faces=1)).update(img)
    pts = face.landmarks.astype(np.float32)
    m = mirror_affine(pts, LID_PAIRS[1], LID_PAIRS[0])
    moved = pts[list(LID_PAIRS[1])] @ m[:, :2].T + m[:, 2]
    assert np.abs(moved - pts[list(LID_PAIRS[0])]).mean() < 2.0  # side 1 lands on side 0 (frame pixels)
    assert np.linalg.det(m[:, :2]) < 0  # a reflection
    maps = CropMaps(256).build(pts * 0.5, PlacementSpec(whole_face=False, brows=False, highlight=False))
    assert maps.shape == (MAP_COUNT, 256, 256) and 0.0 <= maps.min() and maps.max() <= 1.0
    assert mirror_plan(pts * 0.5, maps[5], maps[6], LID_PAIRS) is not None
    assert mirror_plan(pts * 0.5, maps[5], np.zeros_like(maps[6]), LID_PAIRS) is None  # one side hidden


# -- host and device ---------------------------------------------------------------------------------
def test_the_device_pipeline_places_makeup_as_the_host_does():
    torch = pytest.importorskip("torch")  # noqa: F841
    from livefilter.pipeline.device import DeviceStyling, device_pipeline
    from livefilter.looks.registry import LookRegistry
    from livefilter.pipeline.host import LiveControls, Pipeline
    from livefilter.pipeline.session import PipelineSettings, make_tracker
    from livefilter.types import Tracked
    from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
    from livefilter.translate.torch_backend import TorchCudaTranslator

    frames = P.read_video(shared_path("video", "deepfacelive", "Twitch1.mp4"), 17)[::8]
    frames.append(_photo(*OPEN_MOUTH))
    reg = LookRegistry()
    # a makeup look, a whole-face look, and a look landing on the head (at the CPU size on both sides, so
    # that only the composite differs where the network never learned the hair)
    head = replace(reg.get("toon"), name="toon-head", composite="head", device_input_size=None)
    get = lambda name: head if name == head.name else reg.get(name)  # noqa: E731
    for look in ("glam", "toon", head.name):
        controls = LiveControls(look=look)
        tracker = make_tracker(PipelineSettings(detect_every=1, max_faces=1))
        host = Pipeline(tracker, get, lambda lk: OnnxRuntimeTranslator(lk), controls, max_faces=1)
        dev = device_pipeline(tracker, get, lambda lk: TorchCudaTranslator(lk, device="cpu", precision="fp32"),
                             controls, max_faces=1, device="cpu")
        for frame in frames:
            tracker.reset()
            faces = tracker.update(frame)
            a, b = host.process(frame.copy(), Tracked(faces)), dev.process(frame.copy(), Tracked(faces))
            assert dev.stats.passthrough == 0
            diff = np.abs(a.astype(int) - b)
            # the two rasterisers' antialiased edges differ by a fraction of a pixel: on the eye corners, where
            # toon draws ink lines, that is up to ~15 levels on a few hundred edge pixels
            assert diff.mean() < 0.4 and np.percentile(diff, 99.9) <= 16, look
            va = P.face_placement(frame, a, faces[0].landmarks).values
            vb = P.face_placement(frame, b, faces[0].landmarks).values
            assert abs(va["lips_delta_e"] - vb["lips_delta_e"]) < 0.5
            for key in ("inner_mouth_delta_e", "spill"):
                assert (np.isnan(va[key]) and np.isnan(vb[key])) or abs(va[key] - vb[key]) < 0.1, key
            assert abs(va["lip_texture"] - vb["lip_texture"]) < 0.05


def test_the_crop_step_is_the_same_on_both_sides():
    torch = pytest.importorskip("torch")
    from livefilter.align.device import affine_to_theta
    from livefilter.align.host import invert_affine
    from livefilter.composite.device_placement import DeviceCropPlacement
    from livefilter.composite.placement import CHEEK_PAIRS, CropPlacement

    img = _photo(*OPEN_MOUTH)
    from livefilter.pipeline.session import PipelineSettings, make_tracker

    (face,) = make_tracker(PipelineSettings(detect_every=1, max_faces=1)).update(img)
    s = 128
    pts = (face.landmarks - face.landmarks.min(0)) * (s * 0.8 / np.ptp(face.landmarks, 0).max()) + s * 0.1
    rng = np.random.default_rng(0)
    delta = cv2.GaussianBlur(rng.normal(0, 20, (s, s, 3)).astype(np.float32), (0, 0), 2.0)
    mask = np.ones((s, s), np.float32)
    for spec in (PlacementSpec(whole_face=False, brows=False, highlight=False), PlacementSpec()):
        host = CropPlacement(s, spec, tight_ratio=4.0)
        main_h, lips_h = delta.copy(), np.empty_like(delta)
        host.layers(main_h, mask, 0.8, pts, lips_h)
        maps = CropMaps(s).build(pts, spec).copy()
        thetas, on = np.zeros((1, 4, 2, 3), np.float32), np.zeros((1, 2), np.float32)
        for j, (pairs, a, b) in enumerate(((LID_PAIRS, 5, 6), (CHEEK_PAIRS, 7, 8))):
            plan = mirror_plan(pts, maps[a], maps[b], pairs)
            if plan is not None:
                on[0, j] = 1
                thetas[0, 2 * j:2 * j + 2] = affine_to_theta(np.stack([invert_affine(plan[None])[0], plan]), (s, s),
                                                             (s, s), align_corners=True)
        dev = DeviceCropPlacement(s, spec, 4.0, "cpu")
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        main_d, lips_d = dev.layers(t(delta.transpose(2, 0, 1))[None], t(mask)[None, None], t(np.float32([0.8])),
                                    t(maps)[None], t(thetas), t(on))
        assert np.abs(main_d[0].numpy().transpose(1, 2, 0) - main_h).max() < 0.05
        assert np.abs(lips_d[0].numpy().transpose(1, 2, 0) - lips_h).max() < 0.05


def test_the_under_eyes_take_the_skins_tint_never_the_blush():
    """A whole-face look under the eyes: the skin's tint from below (its foundation), but where the cheek apples
    reach up under the eyes (a smile), the blush stays on the cheeks."""
    from livefilter.composite.placement import LUMA, CropPlacement
    from livefilter.pipeline.session import PipelineSettings, make_tracker

    img = _photo(*OPEN_MOUTH)
    (face,) = make_tracker(PipelineSettings(detect_every=1, max_faces=1)).update(img)
    s = 128
    pts = (face.landmarks - face.landmarks.min(0)) * (s * 0.8 / np.ptp(face.landmarks, 0).max()) + s * 0.1
    spec = PlacementSpec()  # foundation: the residual may land on all the skin
    maps = CropMaps(s).build(pts, spec).copy()
    apples = np.maximum(maps[7], maps[8]) > 0.3
    under = maps[3] > 0.99
    assert (apples & (maps[4] > 0)).sum() == 0  # the core the under-eye zone is filled from is off the apples
    for pink, tint in (((30.0, -15.0, 5.0), (4.0, 2.0, -2.0)), ((0.0, 0.0, 0.0), (4.0, 2.0, -2.0))):
        delta = np.zeros((s, s, 3), np.float32)
        delta[:] = tint  # the foundation's warm tint on all the skin
        delta[apples] = pink  # the blush on the apples (none in the second case)
        main, lips = delta.copy(), np.empty_like(delta)
        CropPlacement(s, spec).layers(main, np.ones((s, s), np.float32), 1.0, pts, lips)
        got = main[under]
        want = np.float32(tint) - np.float32(tint) @ LUMA  # the skin's tint, not its lightness
        # the skin's tint, or less of it where the skin below is far (the fill fades): never the blush
        share = np.clip(got @ want / (want @ want), 0.0, 1.0)
        assert np.abs(got - share[:, None] * want).max() < 1.0, (pink, np.abs(got - share[:, None] * want).max())
        assert np.percentile(share, 90) > 0.8  # where the skin below is near, its tint comes through whole


# -- the measures on constructed edits -----------------------------------------------------------------
@pytest.fixture(scope="module")
def face_and_regions():
    img = _photo(*OPEN_MOUTH)
    from livefilter.pipeline.session import PipelineSettings, make_tracker

    (face,) = make_tracker(PipelineSettings(detect_every=1, max_faces=1)).update(img)
    return img, face.landmarks, P.frame_regions(face.landmarks, img.shape[:2])


def _lipstick(img: np.ndarray, lm: np.ndarray, blur: float = 0.0) -> np.ndarray:
    from livefilter.detect.topology import LIPS, LIPS_INNER

    m = np.zeros(img.shape[:2], np.float32)
    cv2.fillPoly(m, [np.round(lm[list(LIPS)] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    inner = np.zeros_like(m)
    cv2.fillPoly(inner, [np.round(lm[list(LIPS_INNER)] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    m *= 1 - inner
    if blur:
        m = cv2.GaussianBlur(m, (0, 0), blur)
    out = img.astype(np.float32) + m[..., None] * np.array([-10.0, -45.0, -35.0], np.float32)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def test_the_measures_of_an_exact_and_a_blurred_lipstick(face_and_regions):
    img, lm, _ = face_and_regions
    exact = P.face_placement(img, _lipstick(img, lm), lm).values
    assert exact["spill"] < 0.05 and exact["inner_mouth_delta_e"] < 0.5 and exact["lips_delta_e"] > 15
    assert 0.8 <= exact["lip_texture"]  # an added colour keeps the lips' lines
    mouth_w = float(np.linalg.norm(lm[61] - lm[291]))
    blurred = P.face_placement(img, _lipstick(img, lm, blur=0.08 * mouth_w), lm).values
    assert blurred["spill"] > 0.3 and blurred["inner_mouth_delta_e"] > 2.0
    assert exact["stray_colour"] < 0.3 and blurred["stray_colour"] > 0.8  # the blur reaches past the band


def test_stray_colour_sees_a_blotch_that_spill_does_not(face_and_regions):
    img, lm, reg = face_and_regions
    out = _lipstick(img, lm).astype(np.float32)
    ys, xs = np.nonzero(reg["skin"])
    top = ys < np.percentile(ys, 20)  # a red patch on the forehead, far from the lips
    cy, cx = int(ys[top].mean()), int(xs[top].mean())
    blotch = np.zeros(img.shape[:2], np.uint8)
    cv2.circle(blotch, (cx, cy), max(4, int(0.12 * np.ptp(xs))), 1, -1)
    out[blotch.astype(bool)] += np.array([25.0, -15.0, -10.0], np.float32)
    v = P.face_placement(img, np.clip(out, 0, 255).round().astype(np.uint8), lm).values
    clean = P.face_placement(img, _lipstick(img, lm), lm).values
    assert v["spill"] == pytest.approx(clean["spill"], abs=1e-6)
    assert clean["stray_colour"] < 0.3 and v["stray_colour"] > 5.0


def _smooth_lipstick(img, lm, sigma):
    """The mouth box of ``img``, its lip coverage and a lipstick layer over it that also smooths the lips (a
    student painting smoothly) by a Gaussian of ``sigma`` px (0: the lips' own lines)."""
    from livefilter.composite.placement import GateGeometry, coverage

    g = GateGeometry.of(lm, (0, 0), img.shape[1], img.shape[0])
    x0, y0, x1, y1 = g.mouth_box
    frame = img[y0:y1, x0:x1]
    buf = np.zeros((y1 - y0, x1 - x0), np.uint8)
    lips = coverage(buf, g.outer - (x0, y0)) * (1.0 - coverage(buf, g.inner - (x0, y0)))
    f = frame.astype(np.float32)
    painted = (cv2.GaussianBlur(f, (0, 0), sigma) if sigma else f) * np.float32([1.0, 0.55, 0.6])
    return frame, lips, (painted - f) * lips[..., None]


@pytest.mark.parametrize("sigma", [0.0, 0.5, 0.7])
def test_the_lips_keep_their_own_detail_on_both_sides(face_and_regions, sigma):
    """A deep lipstick, smoothed or not, gets its lightness detail back to the input's inside the lips (as
    long as that takes at most MAX_DETAIL_GAIN), the same on the host and on the device."""
    torch = pytest.importorskip("torch")
    from livefilter.composite import device_placement as D
    from livefilter.composite import placement as PL

    img, lm, _ = face_and_regions
    frame, lips, delta = _smooth_lipstick(img, lm, sigma)
    inside = cv2.erode((lips > 0.99).astype(np.float32), np.ones((3, 3), np.uint8), borderValue=0)
    def energy(d):  # mean squared 4-neighbour Laplacian of the lightness inside the lips
        lap = cv2.Laplacian(PL.lightness(frame.astype(np.float32) + d), cv2.CV_32F, ksize=1)
        return float((lap * lap * inside).sum() / inside.sum())

    e_in, before = energy(0), energy(delta)
    assert before < 0.9 * e_in  # the lipstick fades the lines
    host = delta.copy()
    gain = PL.keep_lip_texture(host, frame, lips)
    after = energy(host)
    if gain < PL.MAX_DETAIL_GAIN:
        assert after == pytest.approx(e_in, rel=0.03)
    else:  # more than the cap would give: as close as it allows, never past the input
        assert before < after < e_in
    dev = torch.from_numpy(delta.transpose(2, 0, 1).copy())
    D.keep_lip_texture(dev, torch.from_numpy(frame.transpose(2, 0, 1).astype(np.float32)), torch.from_numpy(lips))
    np.testing.assert_allclose(dev.numpy().transpose(1, 2, 0), host, atol=0.25)  # blur borders, float order


def test_the_detail_step_solves_for_the_input_energy():
    from livefilter.composite.placement import MAX_DETAIL_GAIN, detail_step

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=400).astype(np.float32), rng.normal(size=400).astype(np.float32)
    target = float(((a + 0.3 * b) ** 2).mean())
    assert detail_step(a, b, target) == pytest.approx(0.3, rel=1e-4)
    assert detail_step(a, b, float((a * a).mean()) * 0.9) == 0.0  # already as detailed: never lowered
    assert detail_step(a, b, 100 * target) == MAX_DETAIL_GAIN - 1.0  # capped
    assert detail_step(a, 0 * b, 2 * target) == 0.0  # no detail to add
    assert detail_step(a[:0], b[:0], target) == 0.0


def test_a_flat_fill_loses_the_lip_texture(face_and_regions):
    img, lm, reg = face_and_regions
    flat = img.copy()
    m = reg["lips"].astype(bool)
    flat[m] = img[m].mean(0).round().astype(np.uint8)
    assert P.face_placement(img, flat, lm).values["lip_texture"] < 0.2


def test_the_under_eye_and_asymmetry_measures(face_and_regions):
    img, lm, reg = face_and_regions
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    under = (reg["under_eye_left"] | reg["under_eye_right"]).astype(bool)
    darker = lab.copy()
    darker[..., 0][under] = np.clip(darker[..., 0][under].astype(int) - 13, 0, 255)  # 13/255*100 = 5.1 L
    out = cv2.cvtColor(darker, cv2.COLOR_LAB2RGB)
    v = P.face_placement(img, out, lm).values
    assert -6.0 < v["under_eye_delta_l"] < -4.0
    one_lid = img.astype(np.float32)
    one_lid[reg["lid_left"].astype(bool)] -= 30.0  # shadow on one lid only
    v = P.face_placement(img, np.clip(one_lid, 0, 255).astype(np.uint8), lm).values
    assert v["lid_asymmetry"] > 1.9  # |a - 0| / (a / 2) = 2
    both = img.astype(np.float32)
    both[(reg["lid_left"] | reg["lid_right"]).astype(bool)] -= 30.0
    v = P.face_placement(img, np.clip(both, 0, 255).astype(np.uint8), lm).values
    assert v["lid_asymmetry"] < 0.1


def test_a_clip_measures_the_same_however_busy_the_machine(monkeypatch):
    """The clip's landmarks are smoothed over its own time, not the wall clock: a machine that takes ten seconds
    a frame measures what an idle one does."""
    import itertools

    import livefilter.detect.tracker as tracker_module

    clip = P.read_video(shared_path("video", "deepfacelive", "Obama_speaking.mp4"), 6)
    assert P.video_rate(shared_path("video", "deepfacelive", "Obama_speaking.mp4")) > 0
    idle = P.measure_look("glam", [], clip, sizes=("cpu",), four_faces=False)["cpu"]["video"]
    slow = itertools.count(0.0, 10.0)
    monkeypatch.setattr(tracker_module.time, "perf_counter", lambda: next(slow))
    busy = P.measure_look("glam", [], clip, sizes=("cpu",), four_faces=False)["cpu"]["video"]
    assert busy["faces"] == idle["faces"] == 6
    for key in ("lips_delta_e", "under_eye_delta_l", "spill", "lip_texture"):
        assert busy[key]["mean"] == pytest.approx(idle[key]["mean"], rel=1e-6, abs=1e-9), key
