"""The scene stage inside the pipelines on real video: background blur and a grade on the host
pipeline and on the device pipeline (torch's CPU device), frames with and without a face."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.replay import ReplaySource, decode_frames
from conftest import shared_path
from fakes import CollectSink
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from livefilter.scene.grade import KNOT_X, Grade
from livefilter.scene.stage import LookScene, SceneControls

torch = pytest.importorskip("torch")

VIDEO = ("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4")
NO_FACE = 5

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clip():
    return decode_frames(str(shared_path(*VIDEO)), (640, 360), 20)[8:20]


GRADE = Grade(curves=tuple(tuple(float(np.clip(x + d * np.sin(np.pi * x / 255), 0, 255)) for x in KNOT_X)
                           for d in (20, 0, -20)), region="background", keep_skin=False)


def _outputs(backend, clip, **settings):
    pipe = build_pipeline(PipelineSettings(backend=backend, background="blur", blur=0.8, **settings))
    pipe.tracker.config.fps = 30.0
    rt = pipe.runtime(pipe.controls.look)
    rt.scene = LookScene(grade=GRADE)
    sink = CollectSink()
    assert pipe.run(ReplaySource(clip, 30.0, len(clip)), sink, overlap=True) == len(clip)
    assert pipe.stats.passthrough == 0 and pipe.stats.errors == {}
    return pipe, sink.frames


@pytest.fixture(scope="module")
def runs(clip):
    return {"host": _outputs("onnxruntime-cpu", clip), "dev": _outputs("torch-cpu", clip)}


def test_host_pipeline_blurs_and_grades_the_background(runs, clip):
    pipe, out = runs["host"]
    assert len(pipe.stats.samples["scene"]) == len(clip) and len(pipe.stats.samples["segment"]) > 0
    for o, f in zip(out, clip):
        assert np.abs(o.astype(int) - f).mean() > 3  # every frame, with a face or not
    mask = pipe.scene_stage().last_mask
    bg = mask < 0.05
    diff = out[-1].astype(int) - clip[-1]
    assert diff[bg][:, 0].mean() > diff[bg][:, 2].mean() + 5  # the grade warms the background


def test_device_pipeline_matches_the_host_pipeline(runs, clip):
    host, dev = runs["host"][1], runs["dev"][1]
    assert len(runs["dev"][0].stats.samples["scene"]) == len(clip)
    for i, (a, b) in enumerate(zip(dev, host)):
        d = np.abs(a.astype(int) - b)
        assert d.mean() < 1.0, (i, d.mean())


def test_no_scene_switch_and_live_controls(clip):
    pipe = build_pipeline(PipelineSettings(backend="onnxruntime-cpu", background="blur", scene=False))
    frame = clip[0].copy()
    assert np.array_equal(pipe.process(frame), clip[0])  # no face in frame 0 and no scene: untouched
    pipe = build_pipeline(PipelineSettings(backend="onnxruntime-cpu"))
    assert np.array_equal(pipe.process(clip[0].copy()), clip[0])
    pipe.update(scene=SceneControls(background="blur", blur=1.0))
    assert np.abs(pipe.process(clip[0].copy()).astype(int) - clip[0]).mean() > 3
    from livefilter.errors import SettingError

    with pytest.raises(SettingError):
        pipe.update(scene=SceneControls(background="blur", blur=2.0))
