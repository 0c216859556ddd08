"""`livefilter doctor` and `livefilter export` on this machine (in-process CLI runner)."""

from typer.testing import CliRunner

from livefilter.cli import app
from onnx_looks import make_look

runner = CliRunner()


def test_doctor_reports_backends_and_fixes():
    r = runner.invoke(app, ["doctor"], env={"COLUMNS": "220"})
    assert r.exit_code == 0, r.output
    for word in ("tensorrt", "torch-cuda", "onnxruntime-cpu", "engine cache", "pyvirtualcam"):
        assert word in r.output
    assert "pip install 'livefilter[gpu]'" in r.output or "tensorrt" in r.output


def test_export_builds_then_hits_the_cache_and_lists_it(_isolated_home):
    make_look(_isolated_home / "data" / "looks", "shift", kind="shift", size=64)
    r1 = runner.invoke(app, ["export", "shift", "--backend", "onnxruntime-cpu"], env={"COLUMNS": "220"})
    assert r1.exit_code == 0 and "built" in r1.output
    r2 = runner.invoke(app, ["export", "shift", "--backend", "onnxruntime-cpu"], env={"COLUMNS": "220"})
    assert "cached" in r2.output
    r3 = runner.invoke(app, ["export", "shift", "--backend", "onnxruntime-cpu", "--rebuild"], env={"COLUMNS": "220"})
    assert "built" in r3.output
    r4 = runner.invoke(app, ["export", "--all"], env={"COLUMNS": "220"})
    assert r4.exit_code == 0 and "unavailable" in r4.output  # TensorRT is not installed here
    listing = runner.invoke(app, ["export", "--list"], env={"COLUMNS": "220"})
    assert listing.exit_code == 0 and "onnxruntime-cpu" in listing.output and "valid" in listing.output
