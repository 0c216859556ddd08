"""The A/B script (training.teacher.ab) through its real entry point, on real eval faces."""

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, shared_path
from training.teacher import ab

LOOKS = REPO_ROOT / "livefilter" / "looks"


def _run(tmp_path, a, b, *extra):
    out = tmp_path / "ab"
    cmd = [sys.executable, "-m", "training.teacher.ab", "--a", str(a), "--b", str(b), "--looks", "bold-lip",
           "--faces", "6", "--frames", "0", "--no-created", "--no-placement", "--out", str(out),
           "--data", str(shared_path()), *extra]
    env = {"PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    return r, out


def test_self_comparison_gives_equal_numbers(tmp_path):
    r, out = _run(tmp_path, LOOKS, LOOKS, "--frames", "4")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.with_suffix(".json").read_text())
    a, b = doc["arms"]["A"]["bold-lip"], doc["arms"]["B"]["bold-lip"]
    assert a.keys() == b.keys() and {"lips distance ratio", "KID lips ×1000", "same person rate"} <= a.keys()
    assert doc["frames"] == 4 and a["warped flicker ratio"] > 0 and a["frame change ratio"] > 0
    assert all(a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])) for k in a)
    assert a["lips distance ratio"] < 0.8  # the lipstick moves the lips towards the references
    table = out.with_suffix(".md").read_text()
    verdicts = [row.split("|")[-3].strip() for row in table.splitlines() if row.startswith("| bold-lip")]
    assert verdicts and set(verdicts) <= {"=", ""} and "=" in verdicts
    assert "B is better on 0 rows, A on 0" in table and "B on 0, A on 0" in table
    spread = doc["spread"]["bold-lip"]
    assert spread["KID lips ×1000"]["difference"] == 0 and spread["lips distance ratio"]["se"] == 0
    assert "warped flicker ratio" not in spread  # 3 frame pairs: no blocks to halve
    assert out.with_suffix(".png").is_file()


def test_a_look_without_its_lipstick_loses_on_the_lips(tmp_path):
    arm = tmp_path / "arm-b"
    shutil.copytree(LOOKS / "bold-lip", arm / "bold-lip")
    manifest = json.loads((arm / "bold-lip" / "look.json").read_text())
    manifest["style_code"][0] = 0.0  # lips_opacity: the same student, no lip colour
    (arm / "bold-lip" / "look.json").write_text(json.dumps(manifest))
    r, out = _run(tmp_path, LOOKS, arm)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.with_suffix(".json").read_text())
    a, b = doc["arms"]["A"]["bold-lip"], doc["arms"]["B"]["bold-lip"]
    assert b["lips distance ratio"] > a["lips distance ratio"] + 0.2
    row = next(x for x in out.with_suffix(".md").read_text().splitlines() if "| lips distance ratio |" in x)
    assert row.split("|")[-3].strip() == "A" and row.split("|")[-2].strip() == "yes"  # beyond the faces' spread
    spread = doc["spread"]["bold-lip"]["lips distance ratio"]
    assert spread["difference"] > 0.2 and 0 < spread["se"] < spread["difference"] / 2 and spread["sure"]
    assert ab.tally(doc)["A sure"] >= 1


def test_bad_arm_is_one_line_and_non_zero(tmp_path):
    r, _ = _run(tmp_path, tmp_path / "missing", LOOKS)
    assert r.returncode != 0 and "Traceback" not in r.stderr + r.stdout
    assert "is not a folder" in r.stdout + r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r, _ = _run(tmp_path, empty, LOOKS)
    assert r.returncode != 0 and "no look packs" in r.stdout + r.stderr and "Traceback" not in r.stderr
    r, _ = _run(tmp_path, LOOKS, LOOKS, "--looks", "nope")
    assert r.returncode != 0 and "'nope' is not a look of both arms" in r.stdout + r.stderr


def test_better_follows_each_measures_direction():
    assert ab.better("glam: lips distance ratio", 0.4, 0.5) == "A"
    assert ab.better("same person rate", 0.9, 1.0) == "B"
    assert ab.better("lip texture", 1.3, 0.9) == "B"
    assert ab.better("KID eyes ×1000", 2.0, 2.0) == "="
    assert ab.better("KID eyes std ×1000", 1.0, 2.0) == ""
    assert ab.better("spill", float("nan"), 0.1) == ""
    assert ab.better("warped flicker ratio", 1.05, 1.01) == "B"
    assert ab.better("frame change ratio", 1.05, 1.01) == ""  # counts the makeup's own motion: no verdict


def test_offset_distance_is_at_most_the_mean_distance():
    from livefilter.align.host import Aligner
    from livefilter.looks.region_stats import descriptors_of, face_stats, robust_mean
    from training.data import prepare_crops
    from training.eval.regions import reference_distance

    refs = prepare_crops([shared_path("faces", "makeup_beautygan_honlan", "makeup")], Aligner(256, 0.25))
    ref = robust_mean(descriptors_of(refs.crops, refs.landmarks))
    faces = prepare_crops([shared_path("faces", "dualstylegan_content")], Aligner(256, 0.25))
    stats = [face_stats(c, p) for c, p in zip(faces.crops, faces.landmarks)]
    off, mean = ab.offset_distance(stats, ref), reference_distance(stats, ref)
    for region in ("lips", "eyelids", "cheeks"):
        assert 0 <= off[region] <= mean[region] + 0.01  # |mean(v) - t| <= mean |v - t|
    assert off["lips"] > 5  # plain lips are far from lipstick, as a whole


def test_lid_response_probe_renders_and_styles_the_same_faces():
    from dataclasses import replace

    from livefilter.looks.code import LookCode
    from livefilter.looks.pack import load_look

    faces = ab.eval_faces(shared_path(), 6)
    glam = load_look(LOOKS / "glam")
    code = LookCode.from_vector(np.asarray(glam.style_code, np.float32))
    res = ab.lid_response(glam, faces, {"dark": replace(code, shadow_opacity=1.0, shadow_dL=-40.0),
                                        "none": replace(code, shadow_opacity=0.0, liner_opacity=0.0)})
    before = res["unstyled"]["lids"][0]
    # the renderer darkens the measured lid by the code (it is the student's target) and not without it
    assert res["dark"]["renderer"][0] < before - 6 and abs(res["none"]["renderer"][0] - before) < 2
    assert all(np.isfinite(res[k]["student"]).all() for k in ("dark", "none"))
    # a pigment: the renderer's lid lightness is stated against the skin, so lighter lids darken more
    assert res["dark"]["renderer convergence"] < -0.2 and abs(res["none"]["renderer convergence"]) < 0.05
    assert np.isfinite(res["dark"]["student convergence"])


def test_convergence_tells_a_pigment_from_an_offset():
    before = np.array([-30.0, -20.0, -10.0, np.nan, -5.0])
    assert ab.convergence(before, before - 4.0) == pytest.approx(0.0, abs=1e-9)  # an offset
    assert ab.convergence(before, np.full(5, -18.0)) == pytest.approx(-1.0)  # every lid to one value
    half = before + 0.5 * (-18.0 - before)
    assert ab.convergence(before, half) == pytest.approx(-0.5)
    assert math.isnan(ab.convergence(np.full(3, -10.0), np.full(3, -12.0)))


def test_spreads_pair_each_kind_of_unit_and_leave_out_what_does_not_pair():
    """A flicker row on the clip's blocks, a placement row on the photos' faces, a face row: each judged on
    its own units; a placement whose arms found different faces, or a clip too short to halve, gets none."""
    rng = np.random.default_rng(0)
    per_block = rng.uniform(1.0, 2.0, 12)
    photo = rng.normal(0.1, 0.05, 40)
    face = rng.normal(0.5, 0.2, 38)

    def stats(shift):
        return {"glam": {"warped flicker ratio": lambda s: float((per_block[s["blocks"]] * (1 + shift)).mean()),
                         "spill": lambda s: float(photo[s["photos"]].mean()),
                         "lips distance ratio": lambda s: float(face[s["faces"]].mean() + shift)}}

    units = {"photos": {"A": {"glam": 40}, "B": {"glam": 40}}, "blocks": {"A": {"glam": 12}, "B": {"glam": 12}}}
    got = ab.spreads({"A": stats(0.0), "B": stats(0.05)}, units, 38, 20)["glam"]
    assert got["warped flicker ratio"]["sure"] and got["lips distance ratio"]["sure"]
    assert got["spill"]["difference"] == 0 and got["spill"]["sure"] is False
    units["photos"]["B"]["glam"] = 39
    units["blocks"] = {"A": {"glam": 2}, "B": {"glam": 2}}
    got = ab.spreads({"A": stats(0.0), "B": stats(0.05)}, units, 38, 20)["glam"]
    assert set(got) == {"lips distance ratio"}


def test_the_ship_rule_needs_no_sure_loss_and_sure_wins_on_lids_and_realism():
    def doc(rows):  # rows: (name, A, B, sure)
        return {"arms": {"A": {"glam": {n: a for n, a, _, _ in rows}}, "B": {"glam": {n: b for n, _, b, _ in rows}}},
                "spread": {"glam": {n: {"sure": s} for n, _, _, s in rows}}}

    wins = [("eyelids distance ratio", 0.7, 0.4, True), ("KID lips ×1000", 12.0, 9.0, True)]
    assert ab.ship(doc(wins))[0]
    assert ab.ship(doc(wins + [("identity cosine", 0.95, 0.94, False)]))[0]  # A's win within the spread: a tie
    ships, reasons = ab.ship(doc(wins + [("identity cosine", 0.95, 0.90, True)]))
    assert not ships and "glam: identity cosine" in reasons[0]
    assert not ab.ship(doc(wins + [("spill", 0.1, 0.2, None)]))[0]  # a loss without a spread counts
    assert not ab.ship(doc(wins[:1]))[0] and not ab.ship(doc(wins[1:]))[0]  # lids and realism both needed
    assert not ab.ship(doc([("eyelids distance ratio", 0.7, 0.4, False), wins[1]]))[0]
