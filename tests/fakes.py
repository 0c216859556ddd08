"""Test doubles that implement the stage protocols for real (no mocks of the code under test)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np

from livefilter.align.host import canonical_template
from livefilter.errors import InputError
from livefilter.types import CapturedFrame, Face, SourceInfo


class FixedFaceTracker:
    """Reports one face at a fixed place (keypoints = the template scaled into the frame)."""

    def __init__(self, scale: float = 2.0, offset=(100.0, 60.0), track_id: int = 0) -> None:
        kp = canonical_template(128) * scale + np.asarray(offset, np.float32)
        x1, y1 = kp.min(0) - 40
        x2, y2 = kp.max(0) + 40
        self.face = Face(np.array([x1, y1, x2, y2], np.float32), 0.99, kp.astype(np.float32), track_id=track_id)
        self.calls = 0

    def update(self, image):
        self.calls += 1
        return [self.face]

    def reset(self):
        pass


class ListSource:
    """Frames from a list; optional failure after ``fail_after`` reads (a camera unplugged)."""

    def __init__(self, frames, fps: float = 30.0, fail_after: int | None = None, live: bool = True):
        self.frames = list(frames)
        h, w = self.frames[0].shape[:2]
        self.info = SourceInfo(w, h, fps, live)
        self.fail_after = fail_after
        self.reads = 0
        self.closed = False
        self.dropped = 0
        self.decode_errors = 0

    def read(self):
        if self.fail_after is not None and self.reads >= self.fail_after:
            raise InputError("camera unplugged")
        if self.reads >= len(self.frames):
            return None
        img = self.frames[self.reads].copy()
        self.reads += 1
        return CapturedFrame(img, self.reads - 1, time.perf_counter())

    def close(self):
        self.closed = True


class GatedTranslator:
    """Wraps a translator that cannot finish until ``gate`` is set (a stalled GPU): whoever waits on
    it visibly hangs, so "did not wait" needs no clock."""

    def __init__(self, inner, gate, limit: float = 60.0):
        self.inner, self.gate, self.limit = inner, gate, limit
        self.name, self.input_size = inner.name, inner.input_size
        self.strength_in_network = inner.strength_in_network

    def __call__(self, crops, style, strength):
        self.gate.wait(self.limit)
        return self.inner(crops, style, strength)


class SlowTranslator:
    """Wraps a translator and sleeps first (an overloaded GPU / CPU)."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay
        self.name, self.input_size = inner.name, inner.input_size
        self.strength_in_network = inner.strength_in_network

    def __call__(self, crops, style, strength):
        time.sleep(self.delay)
        return self.inner(crops, style, strength)


class FailingTranslator:
    def __init__(self, inner, fail_on: set[int]):
        self.inner, self.fail_on, self.calls = inner, fail_on, 0
        self.name, self.input_size = inner.name, inner.input_size
        self.strength_in_network = inner.strength_in_network

    def __call__(self, crops, style, strength):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("boom")
        return self.inner(crops, style, strength)


class BlockingSink:
    """A consumer that stalls until ``gate`` is set (then takes frames at once)."""

    closed = False

    def __init__(self, gate, limit: float = 60.0):
        self.gate, self.limit = gate, limit
        self.frames = []

    def write(self, image, frame):
        self.gate.wait(self.limit)
        self.frames.append(frame.index)

    def close(self):
        pass


class CollectSink:
    """Keeps a copy of every frame written (outputs may be views of reused buffers)."""

    closed = False

    def __init__(self):
        self.frames = []

    def write(self, image, frame):
        self.frames.append(np.array(image, copy=True))

    def close(self):
        pass


def patch_factory(monkeypatch, backend: str, factory) -> None:
    """Replace one registered backend's translator factory for the length of a test."""
    from dataclasses import replace

    from livefilter.translate import backends

    monkeypatch.setitem(backends.REGISTRY, backend, replace(backends.get(backend), factory=factory))


@contextmanager
def running(pipeline, source, sink, on_frame=None):
    """``pipeline.run(source, sink)`` on a background thread for the ``with`` block, then stopped."""
    stop = threading.Event()
    worker = threading.Thread(target=pipeline.run, args=(source, sink), kwargs={"stop": stop, "on_frame": on_frame},
                              daemon=True)
    worker.start()
    try:
        yield worker
    finally:
        stop.set()
        worker.join(5)
