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
    assert rep["faces"] >= 4 and 0.85 <= rep["identity_similarity"] <= 1.0
    assert rep["style_distance"] < rep["style_distance_before"]  # the look moves the face towards its refs
    assert rep["flicker_ratio"] > 0 and rep["seam_ratio"] > 0
    assert out.with_suffix(".png").is_file()


def test_eval_needs_input():
    r = CliRunner().invoke(app, ["eval", "glam"])
    assert r.exit_code != 0
