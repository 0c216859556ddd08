"""The face tracker on real videos (../shared/data/video): ids, detection schedule, smoothing, cost."""

import logging
import time

import cv2
import numpy as np
import pytest
from conftest import decode_range

from livefilter.detect import TrackerConfig, create_tracker

log = logging.getLogger(__name__)


def _frames(*parts, start=0, stop=None):
    return decode_range(("video", *parts), start, stop)


@pytest.fixture(scope="module")
def obama():
    return _frames("deepfacelive", "Obama_speaking.mp4", stop=110)


class SpyDetector:
    """Wraps the tracker's detector and records on which frames it ran."""

    def __init__(self, inner):
        self.inner, self.calls, self.frame = inner, [], 0

    def detect(self, image):
        self.calls.append(self.frame)
        return self.inner.detect(image)


def test_tracker_keeps_one_id_and_detects_every_n_frames(obama):
    tracker = create_tracker(TrackerConfig(detect_every=10, fps=30))
    spy = tracker.detector = SpyDetector(tracker.detector)
    ids = []
    for i, f in enumerate(obama[:60]):
        spy.frame = i
        faces = tracker.update(f)
        assert len(faces) == 1
        ids.append(faces[0].track_id)
        assert faces[0].landmarks.shape == (468, 2) and faces[0].score > 0.5
    assert set(ids) == {ids[0]}
    assert spy.calls == [0, 10, 20, 30, 40, 50]
    assert tracker.detections == 6 and tracker.frames == 60


def _keypoints(frames, smoothing):
    tracker = create_tracker(TrackerConfig(detect_every=10, fps=30, smoothing=smoothing))
    return np.array([tracker.update(f)[0].keypoints for f in frames])


def test_one_euro_reduces_keypoint_jitter_on_a_still_segment(obama):
    still = obama[80:110]  # the speaker holds his head still here (nose moves < 7 px)
    raw, smooth = _keypoints(still, False), _keypoints(still, True)
    # frame-to-frame change: its spread is the jitter the aligned crop would show
    raw_std = float(np.diff(raw, axis=0).std(0).mean())
    smooth_std = float(np.diff(smooth, axis=0).std(0).mean())
    log.warning("keypoint frame-to-frame std on a still segment: raw %.3f px, One-Euro %.3f px", raw_std, smooth_std)
    assert smooth_std < 0.8 * raw_std
    # the smoothed points stay on the face (no lag on a still face)
    assert np.abs(smooth - raw).mean() < 2.0


def test_one_euro_removes_sensor_noise_jitter(obama):
    """A perfectly still frame with camera noise: the raw landmarks jitter, the smoothed ones much less."""
    rng = np.random.default_rng(0)
    base = obama[85].astype(np.int16)
    noisy = [np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(30)]
    raw, smooth = _keypoints(noisy, False), _keypoints(noisy, True)
    raw_std, smooth_std = raw[10:].std(0).mean(), smooth[10:].std(0).mean()
    log.warning("keypoint std on a noisy still frame: raw %.3f px, One-Euro %.3f px", raw_std, smooth_std)
    assert smooth_std < 0.5 * raw_std


def test_two_people_keep_their_own_stable_ids():
    """Wide shot (frames 130-204): the main face, and a smaller, blurred face in the background (135-153)."""
    frames = _frames("deepfacelive", "Ben_Stiller_Owen_Wilson.mp4", start=130, stop=205)
    tracker = create_tracker(TrackerConfig(detect_every=5, max_faces=4, fps=30))
    main_ids, side_ids, both = [], [], 0
    for i, f in enumerate(frames, start=130):
        faces = tracker.update(f)
        ids = [x.track_id for x in faces]
        assert ids == sorted(set(ids))  # unique, ordered by identity
        main = max(faces, key=lambda x: x.area)
        main_ids.append(main.track_id)
        right = [x for x in faces if x.center[0] > 1150 and i < 160]  # the man at the right edge
        if right:
            side_ids.append(right[0].track_id)
        if right and main.center[0] < 900:
            both += 1
    assert len(set(main_ids)) == 1  # the main face keeps one identity across the shot
    assert both >= 10  # both people tracked at once for a good stretch
    assert len(set(side_ids)) == 1 and side_ids[0] != main_ids[0]


def test_tracker_cost_720p_one_face():
    frames = _frames("liveportrait", "s18.mp4", stop=45)
    assert frames[0].shape == (720, 1280, 3)
    tracker = create_tracker(TrackerConfig(detect_every=10, fps=30))
    tracker.update(frames[0])  # warm-up
    t0 = time.perf_counter()
    for f in frames[1:]:
        faces = tracker.update(f)
        assert len(faces) == 1
    ms = (time.perf_counter() - t0) / (len(frames) - 1) * 1000
    log.warning("tracker 720p, 1 face: %.1f ms/frame (detector every 10 frames)", ms)  # figures: benchmarks/


def test_tracker_handles_odd_frames():
    tracker = create_tracker(TrackerConfig(fps=30))
    assert tracker.update(np.zeros((4, 4, 3), np.uint8)) == []
    assert tracker.update(np.zeros((480, 640, 3), np.uint8)) == []
    view = cv2.resize(_frames("deepfacelive", "Obama_speaking.mp4", stop=1)[0], (800, 600))[:, ::-1]  # not contiguous
    faces = tracker.update(view)
    assert len(faces) == 1 and faces[0].keypoints[0, 0] < faces[0].keypoints[1, 0]
