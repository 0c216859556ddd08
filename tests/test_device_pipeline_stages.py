"""The device pipeline end to end on real video (CPU device; CUDA when present): the face stage on the
upload, frame-buffer bookkeeping, frames decoded on the device, planar output and stage timing."""

import random
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest

from benchmarks.replay import ReplaySource, decode_frames
from conftest import shared_path
from fakes import FixedFaceTracker, ListSource
from livefilter.errors import SettingError
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import HostStyling, LiveControls, Pipeline
from livefilter.protocols import DeviceFaceStage, DeviceTranslator
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from livefilter.sinks.pixel_format import to_rgb
from livefilter.infra.stats import StageStats
from livefilter.types import Tracked

torch = pytest.importorskip("torch")

from livefilter.detect.device_tracker import DeviceBlazeFace, DeviceFaceMesh  # noqa: E402
from livefilter.pipeline.device import DeviceStyling, device_pipeline  # noqa: E402
from livefilter.gpu.timing import DeviceStageClock  # noqa: E402
from livefilter.translate.torch_backend import TorchCudaTranslator  # noqa: E402

VIDEO = ("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4")
NO_FACE = 5  # the clip's first five frames have no face; a face arrives on the sixth and stays


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clip():
    """Frames 8..27 at 640x360."""
    return decode_frames(str(shared_path(*VIDEO)), (640, 360), 28)[8:28]


class CollectSink:
    closed = False

    def __init__(self):
        self.frames = []

    def write(self, image, frame):
        self.frames.append(np.array(image, copy=True))  # outputs may be views of reused buffers

    def close(self):
        pass


def _pipeline(backend="torch-cpu", **settings):
    pipe = build_pipeline(PipelineSettings(backend=backend, **settings))
    pipe.tracker.config.fps = 30.0  # One-Euro timestamps from the frame count, not the wall clock
    return pipe


def _run(pipe, frames, source=None):
    """(outputs, faces per frame) of ``Pipeline.run`` with the face stage on its worker thread."""
    sink, faces = CollectSink(), []

    def seen(frame, out):
        faces.append(len(pipe.last_faces))

    n = pipe.run(source or ReplaySource(frames, 30.0, len(frames)), sink, overlap=True, on_frame=seen)
    assert n == len(frames) == len(sink.frames)
    return sink.frames, faces


@pytest.fixture(scope="module")
def runs(clip):
    """The device pipeline (torch-cpu) and the host pipeline (onnxruntime-cpu) over the clip."""
    dev, host = _pipeline("torch-cpu"), _pipeline("onnxruntime-cpu")
    return {"dev": (dev, *_run(dev, clip)), "host": (host, *_run(host, clip))}


# -- device pipeline vs host pipeline ------------------------------------------------------------------

def test_torch_cpu_builds_the_device_pipeline_with_the_device_face_stage(runs):
    dev, host = runs["dev"][0], runs["host"][0]
    assert isinstance(dev.styling, DeviceStyling) and dev.device.type == "cpu"
    assert type(host.styling) is HostStyling and host.device is None
    assert isinstance(dev.tracker.detector, DeviceBlazeFace) and isinstance(dev.tracker.landmarker, DeviceFaceMesh)
    assert isinstance(dev.tracker, DeviceFaceStage) and dev.styling._device_faces
    assert isinstance(dev.runtime(dev.controls.look).translator, DeviceTranslator)
    assert not dev.styling.clock.cuda
    # one upload per frame, on the face stage's thread, and the device stages timed
    assert len(dev.stats.samples["upload"]) == len(runs["dev"][1])
    for stage in ("detect", "align", "translate", "blend"):
        assert len(dev.stats.samples[stage]) > 0, stage


def test_device_pipeline_matches_the_host_pipeline_over_video(runs, clip):
    dev, dev_out, dev_faces = runs["dev"]
    host, host_out, host_faces = runs["host"]
    assert dev.stats.passthrough == host.stats.passthrough == 0
    assert dev.stats.errors == {} and host.stats.errors == {}
    assert dev_faces == host_faces == [0] * NO_FACE + [1] * (len(clip) - NO_FACE)
    for i, (a, b, f) in enumerate(zip(dev_out, host_out, clip)):
        assert a.shape == f.shape and a.dtype == np.uint8
        if i < NO_FACE:  # nothing to style: the frame goes out untouched
            assert np.array_equal(a, f) and np.array_equal(b, f)
            continue
        assert (a != f).any(-1).sum() > 3000, i  # styled (measured >= 6597 changed pixels)
        assert np.abs(a.astype(int) - b).mean() < 0.15, i  # measured per frame: mean <= 0.06


def test_device_pipeline_styles_faces_as_strongly_as_the_host_pipeline(runs, clip):
    dev_out, host_out = runs["dev"][1], runs["host"][1]
    dev_change = sum(np.abs(a.astype(int) - f).mean() for a, f in zip(dev_out[NO_FACE:], clip[NO_FACE:]))
    host_change = sum(np.abs(b.astype(int) - f).mean() for b, f in zip(host_out[NO_FACE:], clip[NO_FACE:]))
    assert 0.8 < dev_change / host_change < 1.25
    for a, b in zip(dev_out[NO_FACE:], host_out[NO_FACE:]):
        assert np.abs(a.astype(int) - b).mean() < 0.15


def test_temporal_smoothing_on_the_device_matches_the_host(runs, clip):
    """The translator hands back a reused buffer: the device history must keep its own copy."""
    dev, host = _pipeline("torch-cpu", temporal=0.6), _pipeline("onnxruntime-cpu", temporal=0.6)
    dev_out, host_out = _run(dev, clip)[0], _run(host, clip)[0]
    plain = runs["dev"][1]
    smoothed = [np.abs(a.astype(int) - p).mean() for a, p in zip(dev_out[NO_FACE + 1:], plain[NO_FACE + 1:])]
    # the history changes the output (measured 0.13..0.41 per frame: the makeup placement keeps glam's
    # change to its regions, so less of the frame moves than the whole-oval residual did, 0.33..1.04)
    assert max(smoothed) > 0.2
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(dev_out[NO_FACE:], host_out[NO_FACE:])]
    # measured: mean 0.09, worst frame 0.29 (the host history rounds down to uint8 every frame)
    assert np.mean(diffs) < 0.15 and max(diffs) < 0.45


@pytest.mark.parametrize("head", [False, True], ids=["face", "head"])
def test_device_face_mask_matches_the_host_mask_on_video_landmarks(clip, head):
    from livefilter.align.host import Aligner
    from livefilter.detect import TrackerConfig, create_tracker
    from livefilter.composite.device_masks import face_masks
    from livefilter.composite.masks import LandmarkMasker, head_masker

    tracker = create_tracker(TrackerConfig(fps=30))
    aligner, masker = Aligner(128), head_masker(128) if head else LandmarkMasker(128)
    diffs = []
    for f in clip:
        faces = tracker.update(f)
        if not faces:
            continue
        m = aligner.transforms(faces)[0]
        crop_pts = faces[0].landmarks @ m[:, :2].T + m[:, 2]
        ref = masker.face(faces[0].landmarks, m)
        got = face_masks(crop_pts[None], 128, masker.feather_px / 128, "cpu", reach=masker.reach).numpy()[0, 0]
        diffs.append(float(np.abs(ref - got).mean()))
        if head:  # the head: well beyond the face oval
            assert (ref > 0.5).sum() > 0.2 * 128 * 128
    assert len(diffs) == len(clip) - NO_FACE
    assert max(diffs) < 0.015


# -- timing independence -------------------------------------------------------------------------------

def _delayed(pipe, seed):
    """Random sleeps in the face stage (worker thread) and the translator (styling thread)."""
    rng = random.Random(seed)
    calls = {"update": 0, "translate": 0}
    update = pipe.tracker.update
    translator = pipe.runtime(pipe.controls.look).translator
    translate = translator.translate_tensor

    def slow_update(*a, **k):
        calls["update"] += 1
        time.sleep(rng.random() * 0.005)
        return update(*a, **k)

    def slow_translate(*a, **k):
        calls["translate"] += 1
        time.sleep(rng.random() * 0.005)
        return translate(*a, **k)

    pipe.tracker.update = slow_update
    translator.translate_tensor = slow_translate
    return calls


def _check_timing_independent(backend, frames, reference, exact):
    for seed in (1, 2):
        pipe = _pipeline(backend)
        calls = _delayed(pipe, seed)
        out, _ = _run(pipe, frames)
        assert calls["update"] == len(frames) and calls["translate"] == len(frames) - NO_FACE
        assert pipe.stats.passthrough == 0
        for i, (a, b) in enumerate(zip(out, reference)):
            if exact:
                assert np.array_equal(a, b), (seed, i)
            else:  # CUDA: a race (a frame read while overwritten, the wrong buffer) changes far more
                d = np.abs(a.astype(int) - b)
                assert d.max() <= 2 and (d > 0).mean() < 1e-3, (seed, i)


def test_outputs_do_not_depend_on_timing(runs, clip):
    _check_timing_independent("torch-cpu", clip, runs["dev"][1], exact=True)


@pytest.mark.gpu
def test_outputs_do_not_depend_on_timing_on_cuda(clip):
    pipe = _pipeline("torch-cuda")
    assert isinstance(pipe.styling, DeviceStyling) and pipe.device.type == "cuda" and pipe.styling.clock.cuda
    assert isinstance(pipe.tracker.detector, DeviceBlazeFace)
    reference, faces = _run(pipe, clip)
    assert faces[NO_FACE:] == [1] * (len(clip) - NO_FACE) and pipe.stats.passthrough == 0
    _check_timing_independent("torch-cuda", clip, reference, exact=False)


# -- frame-buffer bookkeeping ---------------------------------------------------------------------------

def _watch(pipe):
    """Record the frame buffer of every upload."""
    used = []
    next_buffer = pipe.styling._next_buffer

    def spy(h, w):
        buf = next_buffer(h, w)
        used.append(id(buf))
        return buf

    pipe.styling._next_buffer = spy
    return used


@pytest.mark.parametrize("case", ["paused", "no-face"])
def test_unstyled_frames_are_uploaded_once_into_two_buffers(case, clip):
    pipe = _pipeline()
    if case == "paused":
        pipe.update(paused=True)
        frames = (clip * 2)[:36]
    else:
        frames = clip[:NO_FACE] * 7
    used = _watch(pipe)
    # a fresh array per frame (as a camera source hands out)
    out, _ = _run(pipe, frames, ListSource(frames))
    assert all(np.array_equal(a, f) for a, f in zip(out, frames))
    assert pipe.stats.passthrough == 0
    # every frame uploaded once, alternating between the resolution's two buffers
    assert len(used) == len(frames) and len(set(used)) == 2
    assert all(a != b for a, b in zip(used, used[1:]))
    assert list(pipe.styling._buffers) == [(360, 640)] and len(pipe.styling._buffers[(360, 640)]) == 2


def test_styled_frames_are_styled_from_the_face_stage_uploads(clip):
    pipe = _pipeline()
    used = _watch(pipe)
    out, faces = _run(pipe, clip)
    assert faces[NO_FACE:] == [1] * (len(clip) - NO_FACE)
    assert len(used) == len(clip)  # no second upload on the styling thread
    assert all(a != b for a, b in zip(used, used[1:]))
    assert pipe.stats.passthrough == 0


class TensorSource(ListSource):
    """Frames decoded on the device: torch tensors (H, W, 3) uint8, a fresh one per frame."""

    def read(self):
        frame = super().read()
        return frame if frame is None else replace(frame, image=torch.from_numpy(frame.image))


def test_run_over_frames_decoded_on_the_device_equals_run_over_host_frames(runs, clip):
    pipe = _pipeline()
    out, faces = _run(pipe, clip, TensorSource(clip))
    assert faces == runs["dev"][2] and pipe.stats.passthrough == 0
    for i, (a, b) in enumerate(zip(out, runs["dev"][1])):
        assert isinstance(a, np.ndarray) and np.array_equal(a, b), i


def test_the_device_face_stage_is_handed_the_upload_of_each_frame(clip):
    """The face stage reads the frame buffer the pipeline just uploaded, given as its argument."""
    pipe = _pipeline()
    handed, uploads = [], []
    track, next_buffer = pipe.tracker.track_tensor, pipe.styling._next_buffer

    def spy_track(frame):
        handed.append(frame)
        return track(frame)

    def spy_buffer(h, w):
        uploads.append(next_buffer(h, w))
        return uploads[-1]

    pipe.tracker.track_tensor, pipe.styling._next_buffer = spy_track, spy_buffer
    for f in clip[NO_FACE:NO_FACE + 3]:
        pipe.process(f.copy())
        assert len(pipe.last_faces) == 1
    assert len(handed) == len(uploads) == 3
    assert all(a is b.frame_f for a, b in zip(handed, uploads))
    assert handed[0] is not handed[1] and pipe.stats.passthrough == 0


# -- direct calls --------------------------------------------------------------------------------------

def test_process_without_track_equals_run(runs, clip):
    pipe = _pipeline()
    for i, f in enumerate(clip):
        out = pipe.process(f.copy())  # the face stage runs inside process, on this thread
        assert np.array_equal(out, runs["dev"][1][i]), i
    assert pipe.stats.passthrough == 0


def test_process_with_faces_on_a_reused_buffer_styles_its_new_content(clip):
    face_frame = clip[NO_FACE + 2]
    tracked = _pipeline().track(face_frame.copy())  # faces from another face stage
    assert isinstance(tracked.faces, list) and len(tracked.faces) == 1
    faces = Tracked(tracked.faces)  # without that pipeline's upload
    ref = _pipeline().process(face_frame.copy(), faces)
    pipe = _pipeline()
    buf = clip[0].copy()
    assert np.array_equal(pipe.process(buf), clip[0])  # no face: passed through
    buf[...] = face_frame  # the caller (or its source) reuses the array for the next frame
    out = pipe.process(buf, faces)
    assert np.array_equal(out, ref)  # not the previous (no-face) upload


@pytest.mark.parametrize("index", [0, NO_FACE + 2])
def test_frames_decoded_on_the_device_come_back_as_host_arrays(index, clip):
    frame = clip[index]
    a_pipe, b_pipe = _pipeline(), _pipeline()
    tensor = torch.from_numpy(frame.copy())
    got = a_pipe.process(tensor)
    ref = b_pipe.process(frame.copy())
    assert isinstance(got, np.ndarray) and got.shape == frame.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - ref).max() <= 1  # measured: identical
    assert len(a_pipe.last_faces) == len(b_pipe.last_faces) == (1 if index >= NO_FACE else 0)
    if index < NO_FACE:
        assert np.array_equal(got, frame)  # passed through, downloaded
    else:
        assert (got != frame).any()
    assert a_pipe.stats.passthrough == 0
    # paused: the decoded frame still comes back as a host array
    a_pipe.update(paused=True)
    paused = a_pipe.process(torch.from_numpy(clip[NO_FACE + 3].copy()))
    assert isinstance(paused, np.ndarray) and np.array_equal(paused, clip[NO_FACE + 3])


# -- planar output -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, back", [("I420", cv2.COLOR_YUV2RGB_I420), ("NV12", cv2.COLOR_YUV2RGB_NV12)],
                         ids=["I420", "NV12"])
def test_planar_output_converts_back_to_the_rgb_output(fmt, back, clip):
    planar, rgb = _pipeline(output_format=fmt), _pipeline()
    assert planar.output_format == fmt
    h, w = clip[0].shape[:2]
    styled = 0
    for i in (0, NO_FACE, NO_FACE + 1):
        out, ref = planar.process(clip[i].copy()), rgb.process(clip[i].copy())
        if i < NO_FACE:  # nothing styled: the RGB frame itself, which the sink converts
            assert out.shape == (h, w, 3) and np.array_equal(to_rgb(out, fmt), clip[i])
            continue
        styled += 1
        assert out.shape == (h * 3 // 2, w) and out.dtype == np.uint8
        # the luma plane against OpenCV's conversion of the RGB pipeline's frame
        y_ref = cv2.cvtColor(ref, cv2.COLOR_RGB2YUV_I420)[:h]
        assert np.abs(out[:h].astype(int) - y_ref).max() <= 1
        d = np.abs(cv2.cvtColor(out, back).astype(int) - ref)
        # measured: mean 0.38, 99th percentile 2, max 8 (chroma at quarter resolution)
        assert d.mean() < 1.0 and np.percentile(d, 99) <= 3, i
        assert np.array_equal(to_rgb(out, fmt), cv2.cvtColor(out, back))
    assert styled == 2 and planar.stats.passthrough == 0


def test_invalid_output_format_is_a_setting_error():
    with pytest.raises(SettingError, match="output format"):
        build_pipeline(PipelineSettings(backend="torch-cpu", output_format="YUY2"))
    with pytest.raises(SettingError, match="output format"):
        device_pipeline(FixedFaceTracker(), LookRegistry().get,
                       lambda lk: TorchCudaTranslator(lk, device="cpu", precision="fp32"),
                       LiveControls(look="glam"), device="cpu", output_format="YUY2")


# -- stage clock ---------------------------------------------------------------------------------------

def test_stage_clock_on_the_cpu_times_with_the_host_clock(monkeypatch):
    def no_events(*a, **k):
        raise AssertionError("no CUDA events on the CPU device")

    monkeypatch.setattr(torch.cuda, "Event", no_events)
    stats = StageStats()
    clock = DeviceStageClock(stats, cuda=False)
    with clock.time("blend"):
        time.sleep(0.02)
    assert len(stats.samples["blend"]) == 1 and 15.0 <= stats.samples["blend"][0] < 1000.0
    clock.flush()
    assert len(stats.samples["blend"]) == 1 and set(stats.samples) == {"blend"}


def test_stage_clock_reads_cuda_events_once_after_the_sync(monkeypatch):
    class FakeEvent:
        """Records a tick of a fake device clock; elapsed_time in 'ms' = 2.5 per tick."""

        now = 0
        made = []

        def __init__(self, enable_timing=False):
            assert enable_timing
            self.tick = None
            FakeEvent.made.append(self)

        def record(self, stream=None):
            FakeEvent.now += 1
            self.tick = FakeEvent.now

        def elapsed_time(self, end):
            return (end.tick - self.tick) * 2.5

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    stats = StageStats()
    clock = DeviceStageClock(stats, cuda=True)
    with clock.time("align"):  # ticks 1 -> 2
        pass
    with clock.time("translate"):  # ticks 3 -> 7
        FakeEvent.now += 3
    assert stats.samples == {}  # nothing read before the frame's sync
    clock.flush()
    assert list(stats.samples["align"]) == [2.5] and list(stats.samples["translate"]) == [10.0]
    assert clock._pending == []
    clock.flush()  # nothing new queued: nothing added
    assert list(stats.samples["align"]) == [2.5] and list(stats.samples["translate"]) == [10.0]
    # the next frame reuses each stage's pair of events
    with clock.time("align"):
        FakeEvent.now += 1
    clock.flush()
    assert list(stats.samples["align"]) == [2.5, 5.0] and len(stats.samples["translate"]) == 1
    assert len(FakeEvent.made) == 4
