"""The look family: renderer targets, the shipped looks' measured regions, and train -> publish -> run at CI size."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT, shared_path
from livefilter.looks.code import CODE_DIM, LookCode
from livefilter.looks.pack import load_look
from livefilter.looks.registry import PACKAGED_LOOKS_DIR

torch = pytest.importorskip("torch")

FAMILY = ("glam", "natural", "bold-lip", "soft-glow", "toon")


def _eval_faces(n: int = 12, size: int = 128):
    """Real faces from folders the family never trains on, with their landmarks at ``size``."""
    from livefilter.align.host import Aligner
    from training.data import prepare_crops

    cs = prepare_crops([shared_path("faces", "dualstylegan_content"), shared_path("faces", "vtoonify_data")],
                       Aligner(size, 0.25))
    return cs.crops[:n], cs.landmarks[:n]


@pytest.fixture(scope="module")
def faces256():
    return _eval_faces(6, 256)


def test_renderer_changes_only_the_regions_a_code_names(faces256):
    from livefilter.composite.regions import REGION_NAMES, batch_regions
    from training.eval.regions import face_change
    from training.makeup.dataset import paint_layers
    from training.makeup.render import render

    crops, marks = faces256
    soft, _ = batch_regions(marks, 256)
    layers = [paint_layers(c) for c in crops]
    t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    img, smooth, painted = t(list(crops)), t([x[0] for x in layers]), t([x[1] for x in layers])
    edges = torch.from_numpy(np.stack([x[2] for x in layers])).float().unsqueeze(1) / 255
    masks = torch.from_numpy(soft)

    def run(code: LookCode) -> np.ndarray:
        v = torch.from_numpy(np.stack([code.vector()] * len(crops)))
        return (render(img, masks, v, smooth, painted, edges).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)

    empty = run(LookCode())
    assert np.abs(empty.astype(int) - crops).max() <= 2  # the empty look is the input (Lab round trip)
    lips = run(LookCode(lips_opacity=1.0, lips_a=55.0, lips_b=25.0, lips_dL=-20.0))
    eyes = run(LookCode(shadow_opacity=1.0, shadow_dL=-35.0, liner_opacity=1.0))
    lid_dl = []
    for c, p, lp, ey in zip(crops, marks, lips, eyes):
        ch = face_change(c, lp, p)
        assert ch.delta_e["lips"] > 10 and ch.delta_l["lips"] < -3
        assert ch.delta_e["skin"] < 1.0 and abs(ch.delta_l["skin"]) < 0.5
        ce = face_change(c, ey, p)
        # a dark pigment: every lid darker, least where the lid already was (one face's is 40 L below its skin)
        assert ce.delta_l["eyelids"] < -2 and ce.delta_e["lips"] < 0.5 and abs(ce.delta_l["skin"]) < 0.5
        lid_dl.append(ce.delta_l["eyelids"])
    assert np.mean(lid_dl) < -10
    # a stylised look's target is the whole crop, hair and background too (the runtime chooses where it lands)
    toon = run(LookCode(paint=1.0)).astype(int)
    outside = soft[:, REGION_NAMES.index("face")] == 0
    moved = np.abs(toon - crops).sum(-1)
    layer = (painted.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    assert moved[outside].mean() > 4.0  # summed over R, G, B levels
    # ... and there it is the layer's colour (its lightness moves with the skin's, so compare a*, b*)
    ab = lambda x: np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2LAB)[..., 1:] for f in x]).astype(int)  # noqa: E731
    assert np.abs(ab(toon.astype(np.uint8)) - ab(layer)).sum(-1)[outside].mean() < 1.5
    assert np.abs(ab(crops) - ab(layer)).sum(-1)[outside].mean() > 3.0


def test_eye_shadow_is_a_pigment_stated_against_the_skin(faces256):
    """The same eye shadow gives every face the same lid (relative to its skin) where it is applied: the faces'
    lids come out closer to each other and to the pigment than they were, a lighter pigment lightens, and a
    look made from photos whose lids are lighter than a plain lid says so in its code."""
    from livefilter.composite.regions import batch_regions
    from livefilter.looks.region_stats import Recipe, encode_descriptors, face_stats, load_baseline
    from training.makeup.dataset import paint_layers
    from training.makeup.render import PLAIN_LID_L_REL, render

    crops, marks = faces256
    soft, _ = batch_regions(marks, 256)
    layers = [paint_layers(c) for c in crops]
    t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    args = (torch.from_numpy(soft), t([x[0] for x in layers]), t([x[1] for x in layers]),
            torch.from_numpy(np.stack([x[2] for x in layers])).float().unsqueeze(1) / 255)

    def lids(code: LookCode | None) -> np.ndarray:
        imgs = crops
        if code is not None:
            v = torch.from_numpy(np.stack([code.vector()] * len(crops)))
            out = render(t(list(crops)), args[0], v, *args[1:])
            imgs = (out.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        return np.array([[face_stats(c, p).relative()[k] for k in ("lid_L_rel", "lid_a", "lid_b")]
                         for c, p in zip(imgs, marks)])

    base = load_baseline()
    pigment = np.array([PLAIN_LID_L_REL, base["lid_a"], base["lid_b"]])
    plain = LookCode(shadow_opacity=1.0, shadow_dL=0.0, shadow_a=base["lid_a"], shadow_b=base["lid_b"])
    before, after = lids(None), lids(plain)
    spread = lambda v: np.linalg.norm(v - v.mean(0), axis=1).mean()  # noqa: E731
    assert spread(after) < 0.8 * spread(before)
    assert np.linalg.norm(after - pigment, axis=1).mean() < 0.8 * np.linalg.norm(before - pigment, axis=1).mean()
    lighter = lids(replace(plain, shadow_dL=10.0))
    assert (lighter[:, 0] > after[:, 0] + 2).all()
    light_refs = dict(base, lid_L_rel=base["lid_L_rel"] + 6.0)
    assert encode_descriptors(light_refs, base, Recipe(eyes=1.0, gain=1.0)).shadow_dL == pytest.approx(6.0, abs=0.01)


def test_the_family_is_shipped_with_honest_region_declarations():
    looks = {n: load_look(PACKAGED_LOOKS_DIR / n) for n in FAMILY}
    shas = {lk.onnx_sha256 for lk in looks.values()}
    assert len(shas) == 1, "one conditional student serves every look"
    for name, lk in looks.items():
        assert lk.description and lk.regions, name
        assert lk.style_code is not None and len(lk.style_code) == CODE_DIM
        assert lk.input_size == 128 and lk.device_input_size == 256
        assert isinstance(lk.metrics, dict) and "lips" in lk.metrics, f"{name}: metrics must be measured"
        assert LookCode.from_vector(lk.style_code).regions() == lk.regions
    codes = np.stack([lk.style_code for lk in looks.values()])
    d = np.linalg.norm(codes[:, None] - codes[None], axis=-1)
    assert d[np.triu_indices(len(FAMILY), 1)].min() > 0.5, "looks must be distinct"


@pytest.mark.parametrize("name", FAMILY)
def test_shipped_look_changes_its_regions_and_keeps_skin_tone(name):
    from training.eval.look_effect import apply_look
    from training.eval.regions import face_change, summarise

    look = load_look(PACKAGED_LOOKS_DIR / name)
    crops, marks = _eval_faces()
    after = apply_look(look, crops, marks)
    s = summarise([face_change(b, a, p) for b, a, p in zip(crops, after, marks)])
    if "lips" in look.regions:
        assert s["lips"]["delta_e"] >= 6, s["lips"]
    else:
        assert s["lips"]["delta_e"] < 3
    if "eyes" in look.regions and LookCode.from_vector(look.style_code).shadow_dL < -10:
        assert s["eyelids"]["delta_l"] <= -3, s["eyelids"]
    assert s["skin"]["abs_delta_l"] <= 3.0, s["skin"]
    # a lips-only change never lightens the whole face
    assert abs(s["skin"]["delta_l"]) <= 3.0


def test_strength_interpolates_inside_the_network():
    from training.eval.look_effect import apply_look

    look = load_look(PACKAGED_LOOKS_DIR / "glam")
    crops, marks = _eval_faces(4)
    zero = apply_look(look, crops, marks, strength=0.0)
    half = apply_look(look, crops, marks, strength=0.5).astype(int)
    full = apply_look(look, crops, marks, strength=1.0).astype(int)
    assert np.abs(zero.astype(int) - crops).max() <= 1
    mid = (crops.astype(int) + full) / 2
    assert np.abs(half - mid).mean() < 1.0


def test_a_look_through_the_runtime_is_what_a_viewer_sees():
    """``apply_look(placement=True)``: the crops through the runtime's whole composite. The makeup is the
    same colour on the lips, nothing lands outside the regions the look paints, and a crop of another size
    than the look's is a clear error."""
    from livefilter.composite.regions import face_regions
    from livefilter.errors import InputError
    from training.eval.look_effect import apply_look
    from training.eval.regions import face_change, summarise

    look = load_look(PACKAGED_LOOKS_DIR / "bold-lip")  # lips and eyes, skin left as it is
    crops, marks = _eval_faces(6)
    raw, seen = apply_look(look, crops, marks), apply_look(look, crops, marks, placement=True)
    s_raw, s_seen = (summarise([face_change(b, a, p) for b, a, p in zip(crops, x, marks)]) for x in (raw, seen))
    assert s_seen["lips"]["delta_e"] >= 6 and abs(s_seen["lips"]["delta_e"] - s_raw["lips"]["delta_e"]) < 5
    changed = np.abs(seen.astype(int) - crops).max(-1) > 2
    painted = [face_regions(p, crops.shape[1]).measure for p in marks]
    near = np.stack([cv2.dilate(((m["lips"] > 0) | (m["eyelids"] > 0)).astype(np.uint8), np.ones((9, 9), np.uint8))
                     for m in painted]).astype(bool)
    # the bare network also tints the skin; through the runtime only the lips and lids change
    assert changed[~near].mean() < 0.002 < (np.abs(raw.astype(int) - crops).max(-1) > 2)[~near].mean()
    with pytest.raises(InputError, match="through the runtime"):
        apply_look(look.sized_for(True), crops, marks, placement=True)


def _tiny_data_root(tmp: Path) -> Path:
    """A data root with a few real faces, makeup and style references (copied from ../shared/data)."""
    root = tmp / "data"
    src = shared_path("faces")
    picks = {"deepface_tests": 8, "makeup_beautygan_honlan/makeup": 4, "dualstylegan_style_refs": 3,
             "dualstylegan_content": 3}
    for folder, n in picks.items():
        dst = root / "faces" / folder
        dst.mkdir(parents=True)
        for f in sorted((src / folder).rglob("*.*"))[:n]:
            shutil.copy(f, dst / f.name)
    return root


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livefilter", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def test_train_publish_load_run_end_to_end(tmp_path):
    """`family train` -> `family publish` -> the pack loads -> `run` styles a real video (CI size)."""
    data = _tiny_data_root(tmp_path)
    run = tmp_path / "run"
    r = _cli("family", "train", "--run", str(run), "--data", str(data), "--iterations", "3", "--batch", "2",
             "--size", "64", cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert (run / "family_student.safetensors").is_file() and (run / "family.json").is_file()
    r = _cli("family", "train", "--run", str(run), "--data", str(data), "--iterations", "4", "--batch", "2",
             "--size", "64", cwd=tmp_path)
    assert r.returncode == 0 and "resuming at step 3" in r.stdout, r.stderr + r.stdout
    info = json.loads((run / "family.json").read_text())
    assert set(info["looks"]) == set(FAMILY) and info["eval_faces"] >= 1
    r = _cli("family", "publish", "--run", str(run), "--out-dir", str(tmp_path / "looks"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    glam = load_look(tmp_path / "looks" / "glam")
    assert glam.device_input_size == 256 and glam.metrics["faces"] >= 1
    video = shared_path("video", "deepfacelive", "Obama_speaking.mp4")
    out = tmp_path / "styled.mp4"
    r = _cli("run", "-i", str(video), "-o", str(out), "--look", str(tmp_path / "looks" / "glam"), "--max-frames", "5",
             "--no-control", cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert out.is_file() and out.stat().st_size > 1000


def test_family_cli_errors_are_one_line(tmp_path):
    r = _cli("family", "publish", "--run", str(tmp_path / "nothing"), cwd=REPO_ROOT)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "not a trained family run" in r.stderr
    r = _cli("family", "train", "--run", str(tmp_path / "r"), "--data", str(tmp_path), cwd=REPO_ROOT)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "faces" in r.stderr
