"""A look's scene: look.json validation, the colour grade learnt from photos (``looks create
--grade-only`` through the real CLI), and the grade keeping the wearer's skin tone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT, read_rgb, shared_path
from livefilter.errors import LookError
from livefilter.looks.grade_learn import learn_grade, load_grade_baseline
from livefilter.looks.pack import load_look, parse_manifest
from livefilter.scene.grade import KNOT_X, Grade, grade_table
from livefilter.scene.stage import look_scene

PHOTOS = ("faces", "face_recognition_examples")
# a warm, lifted grade: red up and blue down in the mid-tones, shadows lifted
WARM = Grade(curves=tuple(tuple(float(np.clip(x + lift * (1 - x / 255) + d * np.sin(np.pi * x / 255), 0, 255))
                                for x in KNOT_X) for d, lift in ((22, 18), (4, 18), (-22, 18))))


def _photos(n=8) -> list[Path]:
    return sorted(p for p in shared_path(*PHOTOS).iterdir() if p.suffix in (".jpg", ".png"))[:n]


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIVEFILTER_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=300)


def test_learnt_grade_recovers_an_applied_grade():
    rgbs = [read_rgb(p) for p in _photos()]
    plain = learn_grade(rgbs)
    lut = grade_table(WARM)
    warm = learn_grade([cv2.LUT(r, lut) for r in rgbs])
    shift = np.asarray(warm.curves) - np.asarray(plain.curves)
    applied = np.asarray(WARM.curves) - KNOT_X
    mid = slice(2, 7)
    assert shift[0, mid].mean() > 10 and shift[2, 4:7].mean() < -5
    assert np.abs(shift[:, mid] - applied[:, mid]).mean() < 8
    assert load_grade_baseline().shape == (3, 9)


def _manifest(**scene):
    base = json.loads((REPO_ROOT / "livefilter" / "looks" / "natural" / "look.json").read_text())
    base["scene"] = scene
    return base


@pytest.mark.parametrize("scene", [
    {"grade": {"curves": [[0, 1, 2, 3, 4, 5, 6, 7, float("nan")]] * 3}},
    {"grade": {"curves": [list(range(255, 0, -30))[:9]] * 3}},
    {"grade": {"curves": [[0] * 9] * 2}},
    {"grade": {"curves": [[0] * 9] * 3, "region": "sky"}},
    {"grade": {"curves": [[0] * 9] * 3, "strength": 2}},
    {"background": {"mode": "replace", "source": "../../etc/bg.jpg"}},
    {"background": {"mode": "replace"}},
    {"background": {"mode": "replace", "source": "bg.txt"}},
    {"background": {"mode": "blur", "blur": True}},
    {"colour": 1},
])
def test_bad_scene_fields_are_refused(scene, tmp_path):
    with pytest.raises(LookError):
        parse_manifest(_manifest(**scene), tmp_path)


def test_a_look_with_a_replacement_background_in_its_pack(tmp_path):
    src = REPO_ROOT / "livefilter" / "looks" / "natural"
    pack = tmp_path / "bg-look"
    shutil.copytree(src, pack)
    data = _manifest(background={"mode": "replace", "source": "bg.jpg"}, grade=WARM.to_json())
    data["name"] = "bg-look"
    (pack / "look.json").write_text(json.dumps(data))
    with pytest.raises(LookError, match="missing"):
        load_look(pack)
    cv2.imwrite(str(pack / "bg.jpg"), np.full((90, 160, 3), 200, np.uint8))
    scene = look_scene(load_look(pack))
    assert scene.background.mode == "replace" and scene.background.source == pack / "bg.jpg"
    assert np.allclose(scene.grade.curves, WARM.curves, atol=0.01)


def test_grade_only_look_from_photos_through_the_cli(tmp_path):
    folder = tmp_path / "portfolio"
    folder.mkdir()
    lut = grade_table(WARM)
    for p in _photos():
        cv2.imwrite(str(folder / (p.stem + ".png")), cv2.LUT(cv2.imread(str(p)), lut[:, :, ::-1].copy()))
    r = cli("looks", "create", "warm-grade", "--grade-only", "--from", str(folder), "--grade-region", "background",
            home=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    look = load_look(tmp_path / "data" / "looks" / "warm-grade")
    assert look.default_strength == 0.0 and look.scene["grade"]["region"] == "background"
    curves = np.asarray(look.scene["grade"]["curves"])
    assert curves[0, 4] > curves[2, 4] + 10  # warm: red above blue in the mid-tones
    r2 = cli("looks", "create", "x", "--grade-only", "--from", str(folder), "--grade-region", "sky", home=tmp_path)
    assert r2.returncode != 0 and len(r2.stderr.strip().splitlines()) == 1 and "Traceback" not in r2.stderr


def test_run_with_a_background_through_the_cli(tmp_path):
    clip = shared_path("video", "deepfacelive", "Obama_speaking.mp4")
    out = tmp_path / "out.mp4"
    r = cli("run", "-i", str(clip), "-o", str(out), "--background", "blur", "--blur", "0.9", "--max-frames", "6",
            "--no-control", home=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    assert out.is_file() and "scene" in r.stdout  # the stage's timing is in the run's table
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    for args in (["--background", "replace", "--background-file", str(bad)], ["--background", "paint"],
                 ["--background", "blur", "--blur", "nan"], ["--grade-strength", "3"]):
        r = cli("run", "-i", str(clip), "-o", str(tmp_path / "x.mp4"), "--max-frames", "2", "--no-control", *args,
                home=tmp_path)
        assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, args
