"""Face detection and landmarks on real photos from ../shared/data, plus unit tests of the pieces."""

import importlib.util
import logging
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_rgb, shared_path

from livefilter.detect import TrackerConfig, create_detector, create_tracker
from livefilter.detect.blazeface import FULL_RANGE, SHORT_RANGE, BlazeFaceDetector, ssd_anchor_centres, weighted_nms
from livefilter.detect.facemesh import (
    FaceMeshLandmarker,
    crop_to_frame,
    five_points,
    roi_from_detection,
    roi_matrices,
    rois_from_landmarks,
)
from livefilter.detect.one_euro import OneEuroFilter
from livefilter.demo.sample_media import GROUP_PHOTO_FACES, group_photo_path
from livefilter.errors import InputError, LivefilterError, ModelError, SettingError
from livefilter.protocols import Detector, Landmarker, TracksFaces

log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def detector():
    return create_detector()


def _group_photo() -> np.ndarray:
    try:
        return read_rgb(group_photo_path())
    except InputError as e:
        pytest.skip(str(e))


def _images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))


# ---------------------------------------------------------------------------------------- real images
def test_detection_rate_over_all_shared_faces(detector):
    images = _images(shared_path("faces"))
    assert len(images) > 300
    misses = []
    t0 = time.perf_counter()
    for p in images:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None or not detector.detect(np.ascontiguousarray(img[:, :, ::-1])):
            misses.append(str(p.relative_to(shared_path("faces"))))
    rate = 1 - len(misses) / len(images)
    log.warning("detection rate %.3f (%d/%d) in %.1f s; misses: %s", rate, len(images) - len(misses), len(images),
                time.perf_counter() - t0, misses)
    assert rate >= 0.95


def test_every_face_in_the_group_photo(detector):
    faces = detector.detect(_group_photo())
    assert len(faces) == GROUP_PHOTO_FACES
    boxes = np.stack([f.box for f in faces])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    d = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(len(faces)) * 1e9
    assert d.min() > 50  # six different faces, no duplicates


def test_keypoints_and_landmarks_lie_inside_the_detected_face(detector):
    blaze = detector.detector
    for name in ("img1.jpg", "img2.jpg", "img5.jpg", "img11.jpg", "couple.jpg"):
        path = shared_path("faces", "deepface_tests", name)
        img = read_rgb(path)
        faces = detector.detect(img)
        assert faces, name
        raw = blaze.detect_raw(img)
        for f in faces:
            assert f.landmarks.shape == (468, 2) and f.keypoints.shape == (5, 2)
            assert f.landmarks.dtype == np.float32 and f.keypoints.dtype == np.float32
            # the BlazeFace box that produced this face, enlarged by 25 % (FaceMesh reaches the forehead)
            b = max(raw, key=lambda r: _overlap(r.box, f.box)).box
            pad = 0.25 * np.array([-(b[2] - b[0]), -(b[3] - b[1]), b[2] - b[0], b[3] - b[1]])
            x1, y1, x2, y2 = b + pad
            for pts in (f.keypoints, f.landmarks):
                assert (pts[:, 0] >= x1).all() and (pts[:, 0] <= x2).all(), name
                assert (pts[:, 1] >= y1).all() and (pts[:, 1] <= y2).all(), name
            # the Face box is the landmarks' extent
            np.testing.assert_allclose(f.box, [*f.landmarks.min(0), *f.landmarks.max(0)], atol=1e-3)
            kp = f.keypoints
            assert kp[0, 0] < kp[1, 0] and kp[3, 0] < kp[4, 0], name  # left/right as seen (frontal faces)
            assert kp[:2, 1].max() < kp[2, 1] < kp[3:, 1].min(), name  # eyes above nose above mouth


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def test_keypoints_follow_a_rotated_face(detector):
    """Roll: the ROI is de-rotated, so keypoints of a rotated photo are the rotated keypoints."""
    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    base = detector.detect(img)[0].keypoints
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0)
    rotated = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    got = detector.detect(rotated)[0].keypoints
    expected = base @ m[:, :2].T + m[:, 2]
    iod = np.linalg.norm(base[1] - base[0])
    assert np.abs(got - expected).max() < 0.12 * iod


def test_blank_and_tiny_images_have_no_faces(detector):
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert detector.detect(np.full((720, 1280, 3), 200, np.uint8)) == []
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert detector.detect(np.zeros((20, 20, 3), np.uint8)) == []


def test_small_faces_are_found_by_the_tiled_pass():
    det = BlazeFaceDetector()
    img = _group_photo()
    small = np.zeros((img.shape[0] * 3, img.shape[1] * 3, 3), np.uint8)  # the photo in one corner
    small[: img.shape[0], : img.shape[1]] = img
    assert len(det.detect_tiled(small)) > len(det.detect(small))


# ---------------------------------------------------------------------------------------- pieces
def test_anchor_layout_matches_mediapipe():
    a = ssd_anchor_centres(FULL_RANGE)
    assert a.shape == (2304, 2)
    np.testing.assert_allclose(a[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[1], [1.5 / 48, 0.5 / 48])  # row-major, x fastest
    assert len(ssd_anchor_centres(SHORT_RANGE)) == 896  # the short-range model's box count
    det = BlazeFaceDetector()
    assert det.session.get_outputs()[0].shape[1] == len(det.anchors)


def test_weighted_nms_blends_overlapping_detections():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    kps = np.repeat(boxes[:, None, :2], 6, axis=1)
    out = weighted_nms(boxes, scores, kps, 0.3)
    assert len(out) == 2
    assert out[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(out[0].box, [0.4, 0, 10.4, 10], atol=1e-5)  # (0.9*0 + 0.6*1) / 1.5
    np.testing.assert_allclose(out[1].box, boxes[2])


def test_roi_warp_and_back_are_inverse():
    rois = np.array([[300.0, 200.0, 150.0, 0.3], [40.0, 60.0, 90.0, -1.0]])
    m = roi_matrices(rois)
    p = np.array([[310.0, 190.0], [41.0, 70.0]])
    crop = np.einsum("kij,kj->ki", m[:, :, :2], p) + m[:, :, 2]  # pixel index in the crop
    back = crop_to_frame((crop + 0.5)[:, None, :], rois)[:, 0]  # model outputs continuous coords
    np.testing.assert_allclose(back, p, atol=1e-4)
    # the ROI centre maps to the crop centre
    c = np.einsum("kij,kj->ki", m[:, :, :2], rois[:, :2]) + m[:, :, 2]
    np.testing.assert_allclose(c, 95.5, atol=1e-9)


def test_facemesh_batch_equals_one_by_one(detector):
    img = _group_photo()
    faces = detector.detector.detect(img)
    rois = np.stack([roi_from_detection(f.box, f.keypoints) for f in faces])
    lm = FaceMeshLandmarker(max_batch=1)
    batch, pres = lm.run(img, rois)
    for i in range(len(rois)):
        one, p1 = lm.run(img, rois[i : i + 1])
        np.testing.assert_allclose(one[0], batch[i], atol=1e-2)
        assert p1[0] == pytest.approx(pres[i], abs=1e-4)
    # tracking ROIs from landmarks land on the same faces
    again, pres2 = lm.run(img, rois_from_landmarks(batch))
    assert (pres2 > 0.5).all()
    assert np.abs(five_points(again) - five_points(batch)).max() < 6


def test_protocols_and_factories():
    assert isinstance(create_detector(), Detector)
    assert isinstance(BlazeFaceDetector(), Detector)
    assert isinstance(FaceMeshLandmarker(), Landmarker)
    assert isinstance(create_tracker(), TracksFaces)
    with pytest.raises(SettingError):
        create_detector("nope")
    with pytest.raises(SettingError):
        create_tracker(backend="nope")
    for bad in ({"detect_every": 0}, {"max_faces": 0}, {"only": "left"}, {"min_presence": 1.5}, {"fps": 0}):
        with pytest.raises(SettingError):
            TrackerConfig(**bad).validate()


def _frame_720p() -> np.ndarray:
    """A 1280x720 frame with one face (a portrait pasted into a grey frame)."""
    face = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    face = cv2.resize(face, (round(face.shape[1] * 400 / face.shape[0]), 400))
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[160:560, 500 : 500 + face.shape[1]] = face[:, : 1280 - 500]
    return frame


def test_detector_latency_is_reported():
    det = BlazeFaceDetector()
    img = _frame_720p()
    det.detect(img)
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        det.detect(img)
    ms = (time.perf_counter() - t0) / n * 1000
    lm = FaceMeshLandmarker()
    rois = np.stack([roi_from_detection(f.box, f.keypoints) for f in det.detect(img)])
    lm.run(img, rois)
    t0 = time.perf_counter()
    for _ in range(n):
        lm.run(img, rois)
    mesh = (time.perf_counter() - t0) / n * 1000 / len(rois)
    log.warning("BlazeFace 720p: %.1f ms; FaceMesh: %.1f ms per face", ms, mesh)  # figures: see benchmarks/
    assert len(rois) >= 1 and ms > 0 and mesh > 0  # both stages ran on the real frame and were measured


# ---------------------------------------------------------------------------------------- One-Euro
def test_one_euro_constant_signal_stays_constant():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    x = np.array([[5.0, -3.0], [100.0, 7.5]])
    for i in range(20):
        np.testing.assert_allclose(f(x, i / 30), x, atol=1e-6)


def test_one_euro_follows_a_step_with_lag_that_decreases_with_beta():
    lags = []
    for beta in (0.0, 0.01, 0.1):
        g = OneEuroFilter(min_cutoff=1.0, beta=beta)
        g(np.array([[0.0, 0.0]]), 0.0)
        out = [float(g(np.array([[100.0, 0.0]]), (i + 1) / 30)[0, 0]) for i in range(10)]
        assert all(np.diff(out) >= 0) and 0 < out[0] < 100.0 and max(out) <= 100.0 + 1e-3  # no overshoot
        lags.append(100.0 - out[2])
    assert lags[0] > lags[1] > lags[2]


def test_one_euro_smooths_noise_and_handles_time_and_shape():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    noisy = 10 + rng.normal(0, 1, (90, 468, 2))
    out = np.array([f(x, i / 30) for i, x in enumerate(noisy)])
    assert out[30:].std(0).mean() < 0.5 * noisy[30:].std(0).mean()
    last = out[-1]
    np.testing.assert_array_equal(f(noisy[0], 89 / 30), last)  # repeated timestamp: estimate unchanged
    assert f(np.zeros((5, 2)), 4.0).shape == (5, 2)  # new shape restarts
    scaled = OneEuroFilter(1.0, beta=1.0)
    plain = OneEuroFilter(1.0, beta=1.0)
    for t, v in enumerate((0.0, 100.0, 100.0)):
        a = scaled(np.array([[v, 0.0]]), t / 30, scale=100.0)
        b = plain(np.array([[v, 0.0]]), t / 30)
    assert a[0, 0] < b[0, 0]  # speed in sizes/s: the same move is slower, so it is smoothed more
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)


# ---------------------------------------------------------------------------------------- tracker on stills
def test_tracker_only_largest_center_and_max_faces():
    group = _group_photo()
    largest = create_tracker(TrackerConfig(only="largest", fps=30)).update(group)
    everyone = create_tracker(TrackerConfig(max_faces=6, fps=30)).update(group)
    assert len(largest) == 1 and len(everyone) == 6
    assert largest[0].area == pytest.approx(max(f.area for f in everyone), rel=0.05)
    two = create_tracker(TrackerConfig(max_faces=2, fps=30)).update(group)
    assert len(two) == 2 and two[0].area >= two[1].area
    centre = create_tracker(TrackerConfig(only="center", fps=30)).update(group)
    h, w = group.shape[:2]
    dist = [np.hypot(f.center[0] - w / 2, f.center[1] - h / 2) for f in everyone]
    assert len(centre) == 1 and np.hypot(centre[0].center[0] - w / 2, centre[0].center[1] - h / 2) <= min(dist) + 5


def test_tracker_ids_follow_faces_in_a_pan():
    group = _group_photo()
    tracker = create_tracker(TrackerConfig(detect_every=5, max_faces=6, fps=30))
    first = {f.track_id: f.center for f in tracker.update(group)}
    assert len(first) == 6
    for shift in range(1, 15):  # a slow pan: ids must follow their faces
        moved = np.ascontiguousarray(np.roll(group, 3 * shift, axis=1))
        now = {f.track_id: f.center for f in tracker.update(moved)}
        assert set(now) == set(first)
        for tid, (cx, cy) in now.items():
            assert abs(cx - (first[tid][0] + 3 * shift)) < 12 and abs(cy - first[tid][1]) < 12


def test_tracker_forgets_and_re_identifies_a_face():
    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    tracker = create_tracker(TrackerConfig(detect_every=10, fps=30))
    ids = {tracker.update(img)[0].track_id for _ in range(3)}
    assert tracker.update(np.zeros_like(img)) == []  # the face is gone
    assert tracker.update(np.zeros_like(img)) == []
    back = tracker.update(img)
    assert len(back) == 1 and {back[0].track_id} == ids  # same place, soon after: same id
    tracker.reset()
    assert tracker.update(img)[0].track_id not in ids  # after a reset ids are new (settings are keyed by id)


# ---------------------------------------------------------------------------------------- helpers and options
def test_group_photo_is_found_without_importing_insightface(monkeypatch):
    if importlib.util.find_spec("insightface") is None:
        with pytest.raises(LivefilterError, match="pip install"):
            group_photo_path()
        return
    monkeypatch.delitem(sys.modules, "insightface", raising=False)
    path = group_photo_path()
    assert path.name == "t1.jpg" and path.is_file()
    assert "insightface" not in sys.modules


def test_group_photo_missing_gives_install_advice(monkeypatch):
    import livefilter.demo.sample_media as sm

    monkeypatch.setattr(sm, "_from_spec", lambda name: None)
    monkeypatch.setattr(sm, "_from_metadata", lambda name: None)
    with pytest.raises(InputError, match="pip install --no-deps insightface"):
        sm.group_photo_path()


def test_insightface_backend_errors_are_one_line_model_errors(monkeypatch, tmp_path):
    from livefilter.detect.insightface_backend import InsightFaceDetector

    monkeypatch.setitem(sys.modules, "insightface", None)  # import fails like a missing package
    monkeypatch.setitem(sys.modules, "insightface.app", None)
    with pytest.raises(ModelError, match="insightface") as e:
        InsightFaceDetector(allow_download=False)
    assert "\n" not in str(e.value)

    class FakeFace:
        bbox = np.array([10, 20, 110, 140], np.float32)
        det_score = 0.9
        kps = np.array([[40, 60], [80, 60], [60, 85], [45, 110], [75, 110]], np.float32)
        landmark_2d_106 = np.zeros((106, 2), np.float32)

    class FakeAnalysis:
        def __init__(self, name, **kw):
            self.name = name

        def prepare(self, **kw):
            pass

        def get(self, img):
            return [FakeFace()]

    monkeypatch.setitem(sys.modules, "insightface", types.SimpleNamespace())
    monkeypatch.setitem(sys.modules, "insightface.app", types.SimpleNamespace(FaceAnalysis=FakeAnalysis))
    with pytest.raises(ModelError, match="buffalo_l' not found") as e:
        InsightFaceDetector(root=tmp_path, allow_download=False)  # no pack, no download attempt
    assert "\n" not in str(e.value)
    (tmp_path / "buffalo_l").mkdir()
    (tmp_path / "buffalo_l" / "det_10g.onnx").write_bytes(b"x")
    faces = InsightFaceDetector(root=tmp_path, allow_download=False).detect(np.zeros((200, 200, 3), np.uint8))
    assert len(faces) == 1
    np.testing.assert_array_equal(faces[0].keypoints, FakeFace.kps)  # same order as ours
    assert faces[0].keypoints[0, 0] < faces[0].keypoints[1, 0]
    assert faces[0].landmarks.shape == (106, 2)
