"""Benchmark harness: schema of `bench --quick`, and the naive baseline styles the same faces."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.harness import BenchConfig, markdown_table, run_bench, validate_result
from benchmarks.naive import NaivePipeline
from benchmarks.replay import decode_frames, tile_faces
from conftest import REPO_ROOT, shared_path
from livefilter.detect import create_detector
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from onnx_looks import make_look


def test_bench_quick_cli_writes_valid_results(tmp_path):
    home = tmp_path / "home"
    make_look(tmp_path / "mine", "shift", kind="shift", size=128, with_strength=True)  # a folder, not installed
    env = dict(os.environ, LIVEFILTER_HOME=str(home))
    video = shared_path("video", "deepfacelive", "Obama_speaking.mp4")
    r = subprocess.run([sys.executable, "-m", "livefilter", "bench", "--quick", "--look", str(tmp_path / "mine" / "shift"),
                        "--input", str(video),
                        "--out-dir", str(tmp_path / "res")], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    files = list((tmp_path / "res").glob("*.json"))
    assert len(files) == 1 and files[0].with_suffix(".md").is_file()
    doc = json.loads(files[0].read_text())
    validate_result(doc)
    run = doc["runs"][0]
    assert run["pipeline"]["faces_styled"] == run["naive"]["faces_styled"] == 1
    assert run["speedup_vs_naive"] > 0 and "| 360p |" in markdown_table(doc)
    assert run["models"]["student"]["fp32"]["batch1_p50_ms"] > 0  # translator-only latency per precision


def test_schema_validation_rejects_broken_documents():
    with pytest.raises(ValueError):
        validate_result({"schema": 1})
    good_stage = {"p50": 1.0, "p95": 2.0, "p99": 3.0, "mean": 1.5, "n": 10}
    doc = {"schema": 1, "created": "x", "machine": {}, "device": "d", "config": {},
           "runs": [{"resolution": "720p", "faces": 1, "backend": "b", "look": "l", "host_peak_rss_mb": 1,
                     "pipeline": {"fps": 10, "frames": 10, "stages": {"end_to_end": dict(good_stage, p95=0.5)}}}]}
    with pytest.raises(ValueError, match="order"):
        validate_result(doc)


def test_naive_baseline_and_pipeline_style_the_same_faces(tmp_path):
    make_look(tmp_path, "shift", kind="shift", size=128, with_strength=True)
    reg = LookRegistry([tmp_path])
    look = reg.get("shift")
    frames = tile_faces(decode_frames(str(shared_path("video", "deepfacelive", "Obama_speaking.mp4")), (640, 480), 3), 4)
    pipe = build_pipeline(PipelineSettings(look="shift", backend="onnxruntime-cpu", detect_every=1), reg)
    naive = NaivePipeline(create_detector(), OnnxRuntimeTranslator(look), look)
    for f in frames:
        a = pipe.process(f.copy())
        b = naive.process(f.copy())
        centres_p = sorted(tuple(np.round(x.center)) for x in pipe.last_faces)
        centres_n = sorted(tuple(np.round(x.center)) for x in naive.last_faces)
        assert len(pipe.last_faces) == len(naive.last_faces) == 4
        assert np.allclose(np.array(centres_p), np.array(centres_n), atol=10)
        changed_a = np.abs(a.astype(int) - f).max(-1) > 8
        changed_b = np.abs(b.astype(int) - f).max(-1) > 8
        overlap = (changed_a & changed_b).sum() / max(changed_a.sum(), 1)
        assert overlap > 0.8  # the same regions got the look


def test_bench_config_validation():
    from livefilter.errors import SettingError

    with pytest.raises(SettingError):
        BenchConfig(video="x", resolutions=["8k"]).validate()
    with pytest.raises(SettingError):
        BenchConfig(video="x", faces=[3]).validate()


def test_the_device_pipeline_on_the_cpu_is_benchmarked_as_such(tmp_path, monkeypatch):
    import torch

    from benchmarks import harness
    from livefilter.composite.fused import Fuser

    make_look(tmp_path, "shift", kind="shift", size=128, with_strength=True)
    monkeypatch.setattr(harness, "LookRegistry", lambda: LookRegistry([tmp_path]))

    def no_compiler(fn, **kwargs):
        def run(*a, **k):
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", no_compiler)  # the fused timing falls back to eager, and says so
    monkeypatch.setattr(Fuser, "_compiled", {})
    monkeypatch.setattr(Fuser, "_broken", set())
    video = str(shared_path("video", "deepfacelive", "Obama_speaking.mp4"))
    cfg = BenchConfig(video=video, resolutions=["360p"], backends=["torch-cpu"], frames=10, warmup=2,
                      paced_seconds=0.5, baseline=False, look="shift")
    doc = run_bench(cfg)
    validate_result(doc)
    run = doc["runs"][0]
    assert run["backend"] == "torch-cpu-fp32" and run["pipeline_kind"] == "device (cpu)"
    assert run["pipeline"]["faces_styled"] == 1 and run["pipeline"]["stages"]["translate"]["n"] > 0
    assert run["models"]["student"]["fp16"].startswith("not measured")
    fusion = run["fusion"]
    assert fusion["device"] == "cpu" and fusion["resolution"] == "640x360" and fusion["fused_ok"] is False
    table = markdown_table(doc)
    assert "RGB -> I420 on the device at 640x360 (cpu)" in table and "compiler unavailable" in table
    assert "torch-cpu-fp32: device (cpu) pipeline" in table
    finish = run["finish"]  # the skin finish on and off, on the device twin
    assert finish["finish_p50_ms"] > 0 and finish["fps_on"] > 0 and finish["fps_off"] > 0
    assert "skin finish at 360p, 1 face(s) (torch-cpu-fp32)" in table
    broken = dict(run, fusion=dict(fusion, fused_p50_ms=0.0))
    with pytest.raises(ValueError, match="fusion"):
        validate_result(dict(doc, runs=[broken]))


def test_all_backends_means_the_usable_ones(monkeypatch):
    from benchmarks import harness
    from livefilter.translate import select

    monkeypatch.setattr(select, "backend_report", lambda: [("tensorrt", False, "not installed"),
                                                          ("torch-cuda", True, "H100"),
                                                          ("onnxruntime-cuda", False, "no provider"),
                                                          ("onnxruntime-cpu", True, "")])
    assert harness.available_backends() == ["torch-cuda", "onnxruntime-cpu"]


def test_the_skin_finish_is_timed_with_and_without_in_the_same_run(tmp_path, monkeypatch):
    from benchmarks import harness

    make_look(tmp_path, "shift", kind="shift", size=128, with_strength=True)
    monkeypatch.setattr(harness, "LookRegistry", lambda: LookRegistry([tmp_path]))
    video = str(shared_path("video", "deepfacelive", "Obama_speaking.mp4"))
    cfg = BenchConfig(video=video, resolutions=["360p"], backends=["onnxruntime-cpu"], frames=10, warmup=2,
                      paced_seconds=0.5, baseline=False, look="shift", fusion=False, placement=False, scene=False)
    doc = run_bench(cfg)
    validate_result(doc)
    finish = doc["runs"][0]["finish"]
    assert finish["settings"] == {"strength": 1.0, "under_eye": 0.5}
    assert finish["finish_p50_ms"] > 0 and finish["cost_per_face_ms"] == finish["finish_p50_ms"]
    assert "finish" not in doc["runs"][0]["pipeline"]["stages"]  # the look's own run has none
    assert "skin finish at 360p, 1 face(s) (onnxruntime-cpu)" in markdown_table(doc)
    no = run_bench(BenchConfig(**{**cfg.__dict__, "finish": False}))
    assert "finish" not in no["runs"][0]


def test_bench_measures_the_scene_beside_a_run_without_it(tmp_path, monkeypatch):
    from benchmarks import harness

    make_look(tmp_path, "shift", kind="shift", size=128, with_strength=True)
    monkeypatch.setattr(harness, "LookRegistry", lambda: LookRegistry([tmp_path]))
    video = str(shared_path("video", "deepfacelive", "Obama_speaking.mp4"))
    cfg = BenchConfig(video=video, resolutions=["360p"], backends=["onnxruntime-cpu"], frames=10, warmup=2,
                      paced_seconds=0.5, baseline=False, look="shift", fusion=False, placement=False, finish=False,
                      scene=True)
    doc = run_bench(cfg)
    validate_result(doc)
    scene = doc["runs"][0]["scene"]
    for label in ("blur", "grade", "blur_grade"):
        assert scene[f"fps_{label}"] > 0 and scene[f"scene_p50_{label}_ms"] > 0, label
    assert scene["segment_p50_blur_ms"] > 0  # the mask and the layer, made on the face stage's worker
    assert "scene at 360p, 1 face(s)" in markdown_table(doc)
