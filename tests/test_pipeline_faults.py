"""Failure policy and reliability wrappers, with faults injected into real stages."""

import threading
import time

import numpy as np
import pytest

from conftest import read_rgb, shared_path
from fakes import BlockingSink, FailingTranslator, FixedFaceTracker, GatedTranslator, ListSource, SlowTranslator
from livefilter.errors import InputError, SettingError
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import LiveControls, Pipeline
from livefilter.reliability import ReconnectingSource, ThreadedSink
from livefilter.reliability.time_budget import TimeBudgetTranslator
from livefilter.sinks.null_sink import NullSink
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from livefilter.types import CapturedFrame
from onnx_looks import make_look


@pytest.fixture
def frame():
    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    return np.ascontiguousarray(img[:384, :368])


def _pipeline(tmp_path, wrap=None, kind="shift", **kw):
    make_look(tmp_path, "shift", kind=kind)
    make_look(tmp_path, "ident", kind="identity")
    reg = LookRegistry([tmp_path])

    def factory(look):
        t = OnnxRuntimeTranslator(look, threads=1)
        return wrap(t) if wrap else t

    return Pipeline(FixedFaceTracker(), reg.get, factory, LiveControls(look="shift", **kw), max_faces=2)


def test_failing_stage_passes_the_frame_through_and_counts(tmp_path, frame, caplog):
    p = _pipeline(tmp_path, wrap=lambda t: FailingTranslator(t, {2, 3}))
    outs = [p.process(frame.copy()) for _ in range(4)]
    assert not np.array_equal(outs[0], frame)
    assert np.array_equal(outs[1], frame) and np.array_equal(outs[2], frame)
    assert not np.array_equal(outs[3], frame)
    assert p.stats.errors == {"translate:RuntimeError": 2} and p.stats.passthrough == 2
    assert sum("passed through" in r.message for r in caplog.records) == 1  # logged once per kind


def test_slow_translator_times_out_to_passthrough(tmp_path, frame):
    stalled = threading.Event()  # the translation cannot finish until the end of the test
    p = _pipeline(tmp_path, wrap=lambda t: TimeBudgetTranslator(GatedTranslator(t, stalled), 50))
    try:
        out = p.process(frame.copy())  # had it waited for the translation, it would hang here
        assert np.array_equal(out, frame)
        out2 = p.process(frame.copy())  # still busy: immediate passthrough, no queueing
        assert np.array_equal(out2, frame)
        assert p.stats.passthrough == 2
    finally:
        stalled.set()


def test_controls_apply_on_next_frame_and_bad_values_are_refused(tmp_path, frame):
    p = _pipeline(tmp_path)
    styled = p.process(frame.copy())
    p.update(paused=True)
    assert np.array_equal(p.process(frame.copy()), frame)
    p.update(paused=False, look="ident")
    assert np.array_equal(p.process(frame.copy()), frame)
    p.update(look="shift", strength=0.0)
    assert np.array_equal(p.process(frame.copy()), frame)
    with pytest.raises(SettingError):
        p.update(strength=1.5)
    with pytest.raises(Exception):
        p.update(look="does-not-exist")
    assert p.controls.look == "shift" and p.controls.strength == 0.0
    p.update(strength=1.0)
    assert np.array_equal(p.process(frame.copy()), styled)


def test_camera_loss_sends_badged_last_frame_and_reconnects(frame):
    attempts = {"n": 0}
    first = ListSource([frame] * 3, fail_after=3)
    plugged_in = threading.Event()  # the camera comes back only when the test says so (no race with a clock)

    def opener():
        attempts["n"] += 1
        if attempts["n"] == 1:
            return first
        if attempts["n"] < 4 or not plugged_in.is_set():
            raise InputError("no camera yet")
        return ListSource([frame] * 50)

    src = ReconnectingSource(opener, initial_backoff=0.02, max_backoff=0.05)
    frames = [src.read() for _ in range(3)]
    assert all(np.array_equal(f.image, frame) for f in frames)
    held = src.read()  # camera gone: last frame with a badge
    assert src.reconnecting and held.image.shape == frame.shape
    assert not np.array_equal(held.image, frame)
    assert np.array_equal(held.image[200:], frame[200:])  # only the corner badge differs
    plugged_in.set()
    deadline = time.monotonic() + 60  # generous: only a hang fails here
    while src.reconnecting and time.monotonic() < deadline:
        src.read()
    assert not src.reconnecting and src.reconnects == 1 and attempts["n"] >= 4
    assert np.array_equal(src.read().image, frame)
    src.close()


def test_blocked_sink_drops_frames_instead_of_stalling(frame):
    stalled = threading.Event()
    slow = BlockingSink(stalled)
    sink = ThreadedSink(slow)
    for i in range(40):  # the consumer takes nothing meanwhile: a waiting write would hang here
        sink.write(frame, CapturedFrame(frame, i, 0.0))
    stalled.set()
    sink.close()
    assert sink.dropped > 20 and slow.frames[-1] == 39  # newest frame wins
    assert sink.written + sink.dropped == 40


def test_overload_drops_at_source_and_latency_stays_bounded(tmp_path, frame):
    """Processing slower than the camera: frames are dropped at the source, never queued."""
    from benchmarks.replay import PacedSource

    p = _pipeline(tmp_path, wrap=lambda t: SlowTranslator(t, 0.06))
    src = PacedSource([frame], fps=60.0, count=60)
    try:
        n = p.run(src, NullSink())
    finally:
        src.close()
    e2e = p.stats.percentiles("end_to_end")
    translate = p.stats.percentiles("translate")
    assert src.dropped > 20 and n < 40
    # bounded by about one processing time, not growing with a queue (60 queued frames would be ~60x)
    assert e2e["p99"] < 5 * translate["p99"]


def test_sink_error_surfaces_once(frame):
    class Broken:
        def write(self, image, frame):
            raise OSError("device gone")

        def close(self):
            pass

    sink = ThreadedSink(Broken())
    sink.write(frame, CapturedFrame(frame, 0, 0.0))
    time.sleep(0.1)
    with pytest.raises(OSError):
        sink.write(frame, CapturedFrame(frame, 1, 0.0))


def test_overlapped_run_equals_sequential_run(tmp_path, frame):
    """The face stage running ahead on a worker thread changes throughput, never the frames."""
    from benchmarks.replay import ReplaySource

    frames = [np.ascontiguousarray(np.roll(frame, 3 * i, axis=1)) for i in range(12)]
    outs = {}
    for overlap in (False, True):
        p = _pipeline(tmp_path / str(overlap))
        got = []
        p.run(ReplaySource(frames, 30.0, 12), NullSink(), overlap=overlap,
              on_frame=lambda f, out: got.append((f.index, out.copy())))
        outs[overlap] = got
    assert [i for i, _ in outs[True]] == list(range(12))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(outs[False], outs[True]))


def test_temporal_blending_reduces_generator_flicker(tmp_path, frame):
    class Noisy:
        name, input_size, strength_in_network = "noisy", 128, False

        def __init__(self):
            self.rng = np.random.default_rng(0)

        def __call__(self, crops, style, strength):
            return np.clip(crops.astype(int) + 40 + self.rng.integers(-25, 25, crops.shape), 0, 255).astype(np.uint8)

    make_look(tmp_path, "shift", kind="shift")
    reg = LookRegistry([tmp_path])
    changes = {}
    for temporal in (0.0, 0.7):
        p = Pipeline(FixedFaceTracker(), reg.get, lambda look: Noisy(), LiveControls(look="shift"), temporal=temporal)
        outs = [p.process(frame.copy()).astype(int) for _ in range(8)]
        changes[temporal] = np.mean([np.abs(a - b).mean() for a, b in zip(outs[2:], outs[3:])])
    assert changes[0.7] < 0.6 * changes[0.0]
    with pytest.raises(SettingError):
        Pipeline(FixedFaceTracker(), reg.get, lambda look: Noisy(), LiveControls(look="shift"), temporal=1.5)


def test_a_sink_without_the_sink_protocol_is_refused_before_the_first_frame(tmp_path, frame):
    """A sink that cannot say whether it still takes frames is a one-line error, not a guess."""

    class Undeclared:
        def write(self, image, frame):
            raise AssertionError("no frame is written")

        def close(self):
            pass

    p = _pipeline(tmp_path)
    source = ListSource([frame] * 3)
    with pytest.raises(SettingError) as e:
        p.run(source, Undeclared())
    assert str(e.value) == "sink Undeclared does not implement the Sink protocol (write, close, closed)"
    assert source.reads == 0


class SlowReadSource(ListSource):
    """Each read takes a while and records whether it was still running when the source was closed."""

    def __init__(self, frames):
        super().__init__(frames)
        self.reading = threading.Event()
        self.read_while_closed = False

    def read(self):
        self.reading.set()
        time.sleep(0.3)
        self.read_while_closed |= self.closed
        frame = super().read()
        self.reading.clear()
        return frame


class FailingSink(NullSink):
    def write(self, image, frame):
        raise OSError(28, "No space left on device")


def test_a_run_that_ends_early_lets_the_frame_read_ahead_finish_before_it_returns(tmp_path, frame):
    """The worker reads frame N+1 while frame N is styled; when the run ends on an error, the read in
    progress finishes before run() returns, so the caller can close the source under no one."""
    p = _pipeline(tmp_path)
    src = SlowReadSource([frame] * 5)

    class FailingOnceReadingAhead(FailingSink):
        def write(self, image, frame):
            # fail while the worker is reading the next frame (on a loaded machine it may not have started yet)
            assert src.reading.wait(10), "the worker never read ahead"
            super().write(image, frame)

    with pytest.raises(OSError):
        p.run(src, FailingOnceReadingAhead(), overlap=True)
    src.close()
    time.sleep(0.5)  # a read still running would finish now, seeing the source closed
    assert not src.read_while_closed and src.reads == 2
