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
    if "identity" in rep:  # FaceNet installed (the test command installs it)
        assert rep["identity"]["same_person_rate"] >= 0.9
    assert rep["video"]["flicker_ratio"] > 0 and rep["video"]["seam_ratio"] > 0
    assert out.with_suffix(".png").is_file()


def test_eval_needs_input():
    r = CliRunner().invoke(app, ["eval", "glam"])
    assert r.exit_code != 0
