"""The whole CPU pipeline on real video with real detection and real ONNX generators."""

import os
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT, read_rgb, shared_path
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from onnx_looks import make_look


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture
def registry(tmp_path):
    make_look(tmp_path, "ident", kind="identity", size=128)
    make_look(tmp_path, "shift", kind="shift", size=128, with_strength=True)
    return LookRegistry([tmp_path])


def _frames(name, n):
    with av.open(str(shared_path("video", *name))) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))]


def test_identity_generator_returns_the_frame_unchanged(registry):
    p = build_pipeline(PipelineSettings(look="ident", backend="onnxruntime-cpu"), registry)
    frames = _frames(("deepfacelive", "Obama_speaking.mp4"), 20)
    for f in frames:
        out = p.process(f.copy())
        assert _psnr(out, f) >= 40.0
    assert p.stats.percentiles("translate")["n"] == 20  # the faces really went through the model


def test_colour_shift_changes_only_pixels_inside_the_face_mask(registry):
    p = build_pipeline(PipelineSettings(look="shift", backend="onnxruntime-cpu", detect_every=1), registry)
    f = _frames(("deepfacelive", "Obama_speaking.mp4"), 1)[0]
    out = p.process(f.copy())
    face = p.last_faces[0]
    rt = p.runtime("shift")
    m = rt.aligner.transform(face.keypoints)
    mask = cv2.warpAffine(rt.blender.mask, cv2.invertAffineTransform(m), f.shape[1::-1])
    changed = np.abs(out.astype(int) - f).max(-1) > 0
    assert changed.sum() > 2000
    assert not (changed & (mask <= 0)).any()
    assert out[..., 0][changed].mean() > f[..., 0][changed].mean()  # the look shifts towards red


def test_frame_without_a_face_passes_through_unchanged(registry):
    p = build_pipeline(PipelineSettings(look="shift", backend="onnxruntime-cpu"), registry)
    img = cv2.resize(read_rgb(shared_path("faces", "liveportrait_source", "s23.jpg")), (640, 480))
    blank = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    for x in (img, blank):
        assert np.array_equal(p.process(x.copy()), x)


def test_every_face_of_a_multi_face_frame_is_styled_in_one_batch(registry):
    from livefilter.demo.sample_media import group_photo_path

    try:
        photo = read_rgb(group_photo_path())
    except Exception as e:
        pytest.skip(str(e))
    p = build_pipeline(PipelineSettings(look="shift", backend="onnxruntime-cpu", max_faces=8), registry)
    rt = p.runtime("shift")
    calls = []
    inner = rt.translator

    class Counting:
        name, input_size, strength_in_network = inner.name, inner.input_size, inner.strength_in_network

        def __call__(self, crops, style, strength):
            calls.append(len(crops))
            return inner(crops, style, strength)

    rt.translator = Counting()
    out = p.process(photo.copy())
    assert calls == [6]  # six faces, one model call
    assert len(p.last_faces) == 6 and not np.array_equal(out, photo)


def _cli(*args, home):
    env = dict(os.environ, LIVEFILTER_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=600)


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    make_look(h / "data" / "looks", "shift", kind="shift", size=128, with_strength=True)
    return h


def test_run_a_real_video_to_mp4(home, tmp_path):
    src = shared_path("video", "face_recognition", "short_hamilton_clip.mp4")
    out = tmp_path / "out.mp4"
    r = _cli("run", "-i", str(src), "-o", str(out), "--look", "shift", "--strength", "0.8", home=home)
    assert r.returncode == 0, r.stderr
    assert "end_to_end" in r.stdout
    with av.open(str(src)) as a, av.open(str(out)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert float(vb.average_rate) == pytest.approx(float(va.average_rate), abs=0.01)
        assert len(b.streams.audio) == 1
        n_in = sum(1 for _ in a.decode(video=0))
        n_out = sum(1 for _ in b.decode(video=0))
    assert n_in == n_out == 275


@pytest.mark.parametrize("args,msg", [
    (["-i", "/nonexistent/video.mp4", "-o", "null"], "not found"),
    (["-i", "{notvideo}", "-o", "null"], "not a readable video"),
    (["-i", "{truncated}", "-o", "null"], "truncated|readable|decod"),
    (["-i", "{video}", "-o", "null", "--strength", "1.5"], "strength"),
    (["-i", "{video}", "-o", "null", "--look", "nope"], "unknown look"),
    (["-i", "{video}", "-o", "null", "--look", "{corrupt}"], "sha256|corrupt|not a valid"),
    (["-i", "/dev/video99", "-o", "null"], "camera"),
    (["-i", "{video}", "-o", "{existing}"], "--overwrite"),
    (["-i", "{video}", "-o", "null", "--size", "12x"], "--size"),
    (["-i", "{video}", "-o", "null", "--max-faces", "0"], "max-faces"),
])
def test_bad_input_is_one_line_and_nonzero(home, tmp_path, args, msg):
    video = shared_path("video", "deepfacelive", "Obama_speaking.mp4")
    (tmp_path / "notes.mp4").write_text("just some text")
    data = video.read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 4])
    corrupt = make_look(tmp_path / "bad", "corrupt", kind="identity")
    corrupt.model_path.write_bytes(corrupt.model_path.read_bytes()[:-40] + b"x" * 40)
    (tmp_path / "exists.mp4").write_bytes(b"keep")
    subst = {"{notvideo}": tmp_path / "notes.mp4", "{truncated}": tmp_path / "trunc.mp4", "{video}": video,
             "{corrupt}": corrupt.root, "{existing}": tmp_path / "exists.mp4"}
    argv = [str(subst.get(a, a)) for a in args]
    r = _cli("run", "--look", "shift", *argv, home=home) if "--look" not in args else _cli("run", *argv, home=home)
    import re

    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    assert re.search(msg, r.stderr, re.I), r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert (tmp_path / "exists.mp4").read_bytes() == b"keep"


def test_video_without_faces_goes_through_unchanged(home, tmp_path):
    from livefilter.sinks.file_sink import FileSink
    from livefilter.types import CapturedFrame, SourceInfo

    clip = tmp_path / "noface.mp4"
    sink = FileSink(str(clip), SourceInfo(320, 240, 25.0, False, time_base=(25, 1)))
    rng = np.random.default_rng(0)
    for i in range(10):
        img = np.full((240, 320, 3), 90, np.uint8)
        cv2.circle(img, (160 + i * 3, 120), 40, tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        sink.write(img, CapturedFrame(img, i, 0.0))
    sink.close()
    out = tmp_path / "o.mp4"
    r = _cli("run", "-i", str(clip), "-o", str(out), "--look", "shift", home=home)
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 10


def test_a_file_run_is_reproducible(home, tmp_path):
    """Landmark smoothing follows the file's frame times, not how fast this machine processes it."""
    src = shared_path("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4")
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}.mkv"
        r = _cli("run", "-i", str(src), "-o", str(out), "--look", "shift", "--max-frames", "40", "--no-control",
                 "--size", "640x360", home=home)
        assert r.returncode == 0, r.stderr
        with av.open(str(out)) as c:
            outs.append([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert len(outs[0]) == len(outs[1]) == 40
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
