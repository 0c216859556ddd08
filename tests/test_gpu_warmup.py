"""Every CUDA graph is captured in the pipeline's warm-up, before the face-stage worker starts, and
never on the hot path. The capture is a stand-in with CUDA graphs' contract (the outputs are the
tensors ``replay()`` refreshes) that records the thread it ran on, so the device pipeline's
graphed paths run on the CPU device here; the real captures run in the ``gpu`` tests."""

import threading

import numpy as np
import pytest

from benchmarks.replay import decode_frames
from conftest import shared_path
from fakes import CollectSink, FixedFaceTracker, ListSource
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import LiveControls

torch = pytest.importorskip("torch")

from livefilter.gpu.graphs import GraphedModule, GraphSet, ledger  # noqa: E402
from livefilter.pipeline.device import DeviceStyling, device_pipeline  # noqa: E402
from livefilter.translate.torch_backend import TorchCudaTranslator  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class RecordingCapture:
    """``capture(forward) -> (graph, out)``; ``replay`` reruns forward into the captured outputs."""

    def __init__(self):
        self.threads: list[str] = []

    def __call__(self, forward):
        out = forward()
        self.threads.append(threading.current_thread().name)

        class Graph:
            def replay(self):
                new = forward()
                for dst, src in zip(out if isinstance(out, tuple) else (out,), new if isinstance(new, tuple) else (new,)):
                    if dst.data_ptr() != src.data_ptr():
                        dst.copy_(src)

        return Graph(), out


class FaceCounts:
    """A tracker whose face count follows ``counts`` frame by frame (1 -> 2 -> 1 ...)."""

    def __init__(self, counts):
        self.counts, self.i = list(counts), 0
        self.faces = [FixedFaceTracker(offset=(60.0, 40.0), track_id=0).face,
                      FixedFaceTracker(scale=1.5, offset=(330.0, 90.0), track_id=1).face]

    def update(self, image):
        n = self.counts[min(self.i, len(self.counts) - 1)]
        self.i += 1
        return self.faces[:n]

    def reset(self):
        pass


@pytest.fixture(scope="module")
def frames():
    return decode_frames(str(shared_path("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4")), (640, 360), 14)[8:14]


COUNTS = [1, 2, 1, 2, 2, 1]


def _pipeline(capture_fn):
    reg = LookRegistry()
    return device_pipeline(FaceCounts(COUNTS), reg.get,
                          lambda lk: TorchCudaTranslator(lk, max_faces=2, device="cpu", precision="fp32",
                                                         capture_fn=capture_fn),
                          LiveControls(look="glam", strength=0.9), max_faces=2, device="cpu", capture_fn=capture_fn)


def test_graphs_are_captured_in_the_warm_up_before_the_worker_and_replayed_after(frames):
    cap = RecordingCapture()
    pipe = _pipeline(cap)
    before = ledger.snapshot()
    graphed = CollectSink()
    assert pipe.run(ListSource(frames), graphed, overlap=True) == len(frames)
    captures, hot, refused = (a - b for a, b in zip(ledger.snapshot(), before))
    # translator and crop-space chain, batch 1 and 2 each: all in the warm-up, on this thread
    assert captures == 4 and len(cap.threads) == 4 and set(cap.threads) == {threading.current_thread().name}
    assert hot == 0 and refused == 0 and pipe.stats.passthrough == 0
    # replaying the graphs gives exactly what the eager chain gives (static buffers handled right)
    eager = CollectSink()
    _pipeline(None).run(ListSource(frames), eager, overlap=True)
    for a, b, f in zip(graphed.frames, eager.frames, frames):
        assert np.array_equal(a, b) and (a != f).any()


def test_a_look_loaded_while_live_is_warmed_up_when_it_loads_not_by_its_first_frame(frames):
    cap = RecordingCapture()
    pipe = _pipeline(cap)
    pipe.warm_up()
    assert len(cap.threads) == 4
    pipe.update(look="toon")  # the control thread loads it before it goes live
    # toon shares glam's student (one translator, already warm): its own crop-space chain, 2 graphs
    shared = pipe.runtime("toon").translator is pipe.runtime("glam").translator
    want = 4 + 2 + (0 if shared else 2)
    assert len(cap.threads) == want
    before = ledger.snapshot()
    out = CollectSink()
    pipe.run(ListSource(frames[:3]), out, overlap=True)
    assert len(cap.threads) == want and ledger.snapshot()[1:] == before[1:] and pipe.stats.passthrough == 0


def test_a_sealed_graph_set_never_captures_and_counts_the_request():
    calls = []
    graphs = GraphSet("probe", lambda n: calls.append(n) or torch.full((n,), float(n)), 2, "cpu", True,
                      RecordingCapture())
    graphs.warm_up()
    assert graphs.batches == [1, 2] and graphs.sealed
    before = ledger.snapshot()
    assert graphs(2).tolist() == [2.0, 2.0]
    assert graphs(3).tolist() == [3.0] * 3  # eager, correct, and counted
    captures, hot, refused = (a - b for a, b in zip(ledger.snapshot(), before))
    assert captures == 0 and hot == 0 and refused == 1 and graphs.batches == [1, 2]


def test_a_graph_captured_outside_a_warm_up_is_counted_as_a_hot_path_capture():
    graphs = GraphSet("lazy", lambda n: torch.zeros(n), 2, "cpu", True, RecordingCapture())
    before = ledger.snapshot()
    graphs(1)
    assert tuple(a - b for a, b in zip(ledger.snapshot(), before)) == (1, 1, 0)


def test_the_device_face_stage_networks_are_captured_in_the_warm_up(frames):
    """BlazeFace (the whole frame) and FaceMesh (1..max faces) on the real clip, face stage on its
    worker thread: their graphs come from the warm-up, on this thread."""
    from livefilter.pipeline.session import PipelineSettings, build_pipeline

    pipe = build_pipeline(PipelineSettings(backend="torch-cpu", max_faces=2))
    pipe.tracker.config.fps = 30.0
    cap = RecordingCapture()
    for stage in (pipe.tracker.detector, pipe.tracker.landmarker):
        old = stage.module
        stage.module = GraphedModule(old.module, old.sample_shape, "cpu", old.graphs.max_batch, enabled=True,
                                     capture_fn=cap, name=old.graphs.name)
    before = ledger.snapshot()
    out = CollectSink()
    pipe.run(ListSource(frames), out, overlap=True)
    # BlazeFace batch 1, FaceMesh batches 1 and 2 (the crop-space chain is eager on the CPU device)
    assert len(cap.threads) == 3 and set(cap.threads) == {threading.current_thread().name}
    assert ledger.snapshot()[1:] == before[1:] and pipe.stats.passthrough == 0
    assert any(len(f) for f in [pipe.last_faces])
