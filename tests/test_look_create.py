"""``livefilter looks create``: the style encoder graph, photo validation, creation end to end, fidelity."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT, shared_path
from livefilter.errors import InputError, LookError, ModelError, SettingError
from livefilter.looks.registry import LookRegistry
from livefilter.infra.paths import PACKAGED_LOOKS_DIR
from livefilter.looks.code import CODE_DIM, LookCode
from livefilter.looks.pack import load_look, sha256_file
from livefilter.looks.photos import PhotoRejected, decode_photo

PARITY_LAB = 0.25  # Lab units; OpenCV's table-interpolated conversion vs the exact formulas
MAKEUP = ("faces", "makeup_beautygan_honlan", "makeup")


# -- inputs that must be rejected -----------------------------------------------------------------------
def huge_png(width: int = 40000, height: int = 40000) -> bytes:
    """A valid PNG header claiming 1.6 gigapixels, with a tiny (deflated zeros) first row of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * (width * 3 + 1))) \
        + chunk(b"IEND", b"")


def zip_bomb(size: int = 64 << 20) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.bin", "w") as f:
        block = b"\x00" * (1 << 20)
        for _ in range(size >> 20):
            f.write(block)
    return buf.getvalue()


def noise_jpeg(seed: int = 0) -> bytes:
    import cv2

    img = np.random.default_rng(seed).integers(0, 255, (240, 320, 3), np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def test_photo_validation_rejects_bombs_huge_and_non_images():
    bomb = zip_bomb()
    assert len(bomb) < 1 << 20  # 64 MiB of zeros in well under a megabyte
    cases = {"bomb.jpg": (bomb, "not an image"), "huge.png": (huge_png(), "too large"),
             "notes.jpg": (b"these are my notes, not a photo" * 4, "not an image"),
             "tiny.png": (b"\x89PNG", "not an image")}
    for name, (data, why) in cases.items():
        with pytest.raises(PhotoRejected) as e:
            decode_photo(data, name)
        assert why in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith(name)
    jpg = noise_jpeg()
    with pytest.raises(PhotoRejected, match="damaged"):
        decode_photo(jpg[: len(jpg) // 3], "cut.jpg")
    photo = decode_photo(jpg, "ok.jpg")
    assert photo.rgb.shape == (240, 320, 3) and photo.sha256 == hashlib.sha256(jpg).hexdigest()


# -- the style encoder graph ------------------------------------------------------------------------------
def test_style_encoder_matches_numpy_statistics_on_real_faces():
    from livefilter.align.host import Aligner
    from livefilter.looks.encoder import ENCODER_DIR, StyleEncoder
    from livefilter.looks.region_stats import face_stats
    from training.data import prepare_crops

    cs = prepare_crops([shared_path(*MAKEUP)], Aligner(256, 0.25))
    enc = StyleEncoder()
    manifest = json.loads((ENCODER_DIR / "encoder.json").read_text())
    assert enc.sha256 == manifest["onnx_sha256"] == sha256_file(ENCODER_DIR / manifest["model"])
    got = enc.face_stats(cs.crops, cs.landmarks)
    for stats, crop, pts in zip(got, cs.crops, cs.landmarks):
        ref = face_stats(crop, pts).lab
        assert np.array_equal(np.isfinite(ref), np.isfinite(stats.lab))
        assert np.nanmax(np.abs(stats.lab - ref)) < PARITY_LAB
    # a different crop size gives the same statistics through the same (dynamic-size) graph
    import cv2

    half = np.stack([cv2.resize(c, (128, 128), interpolation=cv2.INTER_AREA) for c in cs.crops[:2]])
    small = enc.face_stats(half, (cs.landmarks[:2] + 0.5) * 0.5 - 0.5)
    assert np.nanmax(np.abs(small[0].lab - face_stats(half[0], (cs.landmarks[0] + 0.5) * 0.5 - 0.5).lab)) < PARITY_LAB


def test_style_encoder_refuses_a_graph_that_does_not_match_its_sha256(tmp_path):
    from livefilter.looks.encoder import ENCODER_DIR, StyleEncoder

    copy = tmp_path / "enc"
    shutil.copytree(ENCODER_DIR, copy)
    model = copy / json.loads((copy / "encoder.json").read_text())["model"]
    model.write_bytes(model.read_bytes() + b"\x00")
    with pytest.raises(ModelError, match="sha256"):
        StyleEncoder(copy)


def test_exported_encoder_is_reproducible_and_passes_parity(tmp_path):
    pytest.importorskip("torch")
    from training.style_encoder import export_style_encoder
    from livefilter.align.host import Aligner
    from training.data import prepare_crops

    cs = prepare_crops([shared_path(*MAKEUP)], Aligner(256, 0.25))
    manifest = export_style_encoder(tmp_path, (cs.crops[:4], cs.landmarks[:4]))
    assert manifest["parity_max_abs_lab"] < PARITY_LAB
    assert sha256_file(tmp_path / "style_encoder.onnx") == manifest["onnx_sha256"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


# -- creation -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from family_student import build_student_look

    return build_student_look(tmp_path_factory.mktemp("student"), None)


def cli(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIVEFILTER_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=timeout)


def user_looks(home: Path) -> list[str]:
    d = home / "data" / "looks"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_create_from_a_folder_of_real_makeup_photos(tmp_path, student_dir):
    folder = shared_path(*MAKEUP)
    title = "[bold red]Evening[/] \x1b[31m"
    r = cli("looks", "create", "my-evening", "--from", str(folder), "--title", "[bold]Evening[/]",
            "--student", str(student_dir), home=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    look = load_look(tmp_path / "data" / "looks" / "my-evening")  # validates sha256 and ONNX inputs
    assert look.title == "[bold]Evening[/]" and "[bold]Evening[/]" in r.stdout  # printed escaped, not styled
    assert len(look.style_code) == CODE_DIM and look.onnx_sha256 == sha256_file(student_dir / "student.onnx")
    assert look.input_size == 128 and look.device_input_size == 256
    made = look.training["created_from"]
    photos = sorted(p for p in folder.iterdir() if p.is_file())
    assert made["photos_given"] == len(photos) and made["photos"] >= 3
    assert set(made["photo_sha256"]) <= {hashlib.sha256(p.read_bytes()).hexdigest() for p in photos}
    assert look.preview_path is not None and not (look.root / "photos.jpg").exists()  # no photo pixels
    assert {"lips"} <= set(look.regions) and look.training["style_encoder_sha256"]
    code = LookCode.from_vector(look.style_code)
    assert code.lips_opacity == 1.0 and code.lips_a > 10  # made-up lips are red
    grade = look.scene["grade"]  # the photos' colour grade, learnt too (livefilter.scene)
    assert grade["keep_skin"] is True and grade["region"] == "frame" and len(grade["curves"]) == 3
    assert user_looks(tmp_path) == ["my-evening"]  # nothing else (no staging folders) left behind
    # the pack runs through the runtime's translator
    from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator

    crops = np.full((2, 128, 128, 3), 128, np.uint8)
    out = OnnxRuntimeTranslator(look, threads=1)(crops, np.asarray(look.style_code, np.float32), np.ones(2, np.float32))
    assert out.shape == crops.shape
    # `livefilter eval` measures a created look against its own references (kept in its look.json)
    report_path = tmp_path / "report.json"
    r3 = cli("eval", "my-evening", "--faces", str(shared_path("faces", "dualstylegan_content")), "-o",
             str(report_path), home=tmp_path)
    assert r3.returncode == 0, r3.stderr
    report = json.loads(report_path.read_text())
    fid = report["fidelity"]
    assert fid["lips_distance_ratio"] == round(report["reference_distance_after"]["lips"]
                                               / report["reference_distance_before"]["lips"], 3)
    assert set(fid) >= {"lips_halved", "skin_tone_kept"}
    # the same name again without --replace is refused, and the installed look is untouched
    r2 = cli("looks", "create", "my-evening", "--from", str(folder), "--student", str(student_dir), home=tmp_path)
    assert r2.returncode != 0 and "already exists" in r2.stderr and len(r2.stderr.strip().splitlines()) == 1


def test_bad_photo_folders_give_one_line_errors_and_write_nothing(tmp_path, student_dir):
    makeup = sorted(p for p in shared_path(*MAKEUP).iterdir() if p.is_file())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bomb.jpg").write_bytes(zip_bomb())
    (bad / "huge.png").write_bytes(huge_png())
    (bad / "notes.jpg").write_text("not a photo")
    (bad / "noise.jpg").write_bytes(noise_jpeg())
    import cv2

    grey = cv2.cvtColor(cv2.imread(str(makeup[0])), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(bad / "grey.jpg"), grey)
    few = tmp_path / "few"
    few.mkdir()
    for p in makeup[:2]:
        shutil.copy(p, few / p.name)
    (few / "noise.jpg").write_bytes(noise_jpeg(1))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos here")
    cases = {bad: "0 of 5 photos", few: "2 of 3 photos", empty: "no photos"}
    for folder, why in cases.items():
        r = cli("looks", "create", "nope", "--from", str(folder), "--student", str(student_dir), home=tmp_path)
        assert r.returncode != 0, r.stdout
        assert "Traceback" not in r.stderr + r.stdout
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and why in err[0], r.stderr
        if folder is bad:
            skipped = [line for line in r.stdout.splitlines() if line.startswith("skipped")]
            assert len(skipped) == 5
            text = "\n".join(skipped)
            assert "bomb.jpg: not an image" in text and "huge.png: image is too large" in text
            assert "notes.jpg: not an image" in text and "noise.jpg: no face found" in text
            assert "grey.jpg: the photo has no colour" in text
        assert user_looks(tmp_path) == []  # nothing written, no staging left


def test_bad_options_fail_before_reading_photos(tmp_path, student_dir):
    folder = shared_path(*MAKEUP)
    for args, why in ((["--regions", "lips,nose"], "--regions"), (["--finetune", "99"], "--finetune"),
                      (["--title", "a\x07b"], "title")):
        r = cli("looks", "create", "x", "--from", str(folder), "--student", str(student_dir), *args, home=tmp_path)
        assert r.returncode != 0 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = cli("looks", "create", "glam", "--from", str(folder), "--student", str(student_dir), home=tmp_path)
    assert r.returncode != 0 and "built-in" in r.stderr
    from onnx_looks import make_look

    other = make_look(tmp_path / "other", "plain", with_style=True, with_strength=True)  # a 4-value style input
    r = cli("looks", "create", "x", "--from", str(folder), "--student", str(other.root), home=tmp_path)
    assert r.returncode != 0 and "family student" in r.stderr  # a student that cannot carry a look code


def test_regions_restrict_what_the_look_changes(tmp_path, student_dir, monkeypatch):
    from livefilter.looks.create import CreateOptions, LookCreator
    from livefilter.looks.registry import LookRegistry

    monkeypatch.setenv("LIVEFILTER_HOME", str(tmp_path))
    photos = sorted(p for p in shared_path(*MAKEUP).iterdir() if p.is_file())
    creator = LookCreator(LookRegistry([student_dir.parent]), student=str(student_dir))
    made = creator.create(photos, CreateOptions("lips-only", regions=("lips",), strength=0.8))
    assert made.look.regions == ["lips"] and made.look.default_strength == 0.8
    code = made.code
    assert code.lips_opacity > 0 and code.shadow_opacity == code.blush_opacity == code.skin_opacity == 0
    with pytest.raises(SettingError):
        creator.create(photos, CreateOptions("bad", regions=("nose",)))
    with pytest.raises(InputError, match="at least 3"):
        creator.create(photos[:2], CreateOptions("two"))


def test_finetune_moves_only_the_code_and_improves_its_objective(tmp_path, student_dir, monkeypatch):
    from livefilter.looks.create import CreateOptions, LookCreator
    from livefilter.looks.registry import LookRegistry

    monkeypatch.setenv("LIVEFILTER_HOME", str(tmp_path))
    photos = sorted(p for p in shared_path(*MAKEUP).iterdir() if p.is_file())
    creator = LookCreator(LookRegistry([student_dir.parent]), student=str(student_dir))
    before = sha256_file(student_dir / "student.onnx")
    made = creator.create(photos, CreateOptions("tuned", finetune_minutes=0.1))
    f = made.finetune
    assert f is not None and f["iterations"] > 0 and f["objective_after"] <= f["objective_before"]
    assert made.look.onnx_sha256 == before == sha256_file(student_dir / "student.onnx")  # weights never change
    assert made.look.training["finetune"]["evaluations"] == f["evaluations"]


@pytest.fixture(scope="module")
def trained_student_dir(tmp_path_factory) -> Path:
    """A family student trained here for a few minutes of CPU (slow: run with -m slow)."""
    pytest.importorskip("torch")
    from family_student import build_student_look

    return build_student_look(tmp_path_factory.mktemp("trained"), shared_path(), iterations=160)


def _moves_towards_references(student: Path, tmp_path: Path, monkeypatch) -> None:
    """On faces never used in training, the created look's lips move towards the photos' lips."""
    from livefilter.align.host import Aligner
    from livefilter.looks.create import CreateOptions, LookCreator
    from livefilter.looks.registry import LookRegistry
    from training.data import prepare_crops
    from training.eval.look_effect import measure

    monkeypatch.setenv("LIVEFILTER_HOME", str(tmp_path))
    refs = sorted(p for p in shared_path("faces", "makeup_ybeauty", "makeup").iterdir() if p.is_file())
    creator = LookCreator(LookRegistry([student.parent]), student=str(student))
    made = creator.create(refs, CreateOptions("from-refs", regions=("lips",)))
    evl = prepare_crops([shared_path("faces", "dualstylegan_content")], Aligner(128, 0.25))
    metrics, _ = measure(made.look, evl.crops[:8], evl.landmarks[:8], made.look.training["reference_descriptors"])
    before, after = metrics["reference_distance_before"]["lips"], metrics["reference_distance_after"]["lips"]
    assert after < before, metrics
    assert metrics["skin"]["abs_delta_l"] < 3


@pytest.mark.slow
def test_created_look_on_a_student_trained_here_moves_faces_towards_its_references(tmp_path, trained_student_dir,
                                                                                monkeypatch):
    _moves_towards_references(trained_student_dir, tmp_path, monkeypatch)


def test_created_look_on_the_shipped_family_student_moves_faces_towards_its_references(tmp_path, monkeypatch):
    from livefilter.looks.create import find_student

    try:
        student = find_student(LookRegistry([PACKAGED_LOOKS_DIR]))
    except LookError:
        pytest.skip("the packaged looks do not carry the family student yet")
    _moves_towards_references(student.root, tmp_path, monkeypatch)


def test_a_created_look_s_line_says_which_way_the_lids_go():
    from livefilter.looks.create import describe

    assert "lids 12 L darker" in describe(LookCode(shadow_opacity=0.8, shadow_dL=-12.0))
    assert "lids 6 L lighter" in describe(LookCode(shadow_opacity=0.8, shadow_dL=6.0))
    assert "lids tinted" in describe(LookCode(shadow_opacity=0.8, shadow_dL=0.5))
    assert describe(LookCode()) == "no visible change"
