"""The device face stage: BlazeFace and FaceMesh run through the torch ONNX interpreter on the uploaded
frame reproduce the onnxruntime / OpenCV face stage (CPU device here)."""

import cv2
import numpy as np
import pytest

from conftest import decode_range, read_rgb, shared_path
from livefilter.detect import TrackerConfig, create_tracker
from livefilter.detect.blazeface import MODEL_FILE as DETECT_MODEL
from livefilter.detect.blazeface import BlazeFaceDetector
from livefilter.detect.facemesh import MODEL_FILE as MESH_MODEL
from livefilter.detect.facemesh import FaceMeshLandmarker, roi_from_detection
from livefilter.infra.onnx_session import model_path

torch = pytest.importorskip("torch")

from livefilter.detect.device_tracker import (  # noqa: E402
    DeviceBlazeFace,
    DeviceFaceMesh,
    DeviceFaceTracker,
    create_device_tracker,
)
from livefilter.gpu.frames import DeviceFrameBuffer  # noqa: E402
from livefilter.translate.onnx_torch import build_module  # noqa: E402

VIDEO = ("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def host_models():
    return BlazeFaceDetector(), FaceMeshLandmarker()


@pytest.fixture(scope="module")
def device_models():
    return DeviceBlazeFace("cpu"), DeviceFaceMesh("cpu")


def _decode(parts, start, stop):
    return decode_range(parts, start, stop)


@pytest.fixture(scope="module")
def crowd_frame():
    """Frame 150 of the two-person clip at full size (1280x720): one large face, three small ones."""
    return _decode(VIDEO, 150, 151)[0]


@pytest.fixture(scope="module")
def duet():
    """20 frames at 640x360, two clips side by side: one face, then two (the right one arrives), then
    one (the left one leaves); every face clearly above the presence threshold, so both trackers must
    agree on every count."""

    def half(img):
        h, w = img.shape[:2]
        x0 = (w - h * 8 // 9) // 2
        return cv2.resize(img[:, x0:x0 + h * 8 // 9], (320, 360), interpolation=cv2.INTER_AREA)

    blank = np.zeros((360, 320, 3), np.uint8)
    left = _decode(("video", "deepfacelive", "Obama_speaking.mp4"), 0, 20)
    right = _decode(("video", "deepfacelive", "Twitch1.mp4"), 0, 20)
    return [np.hstack([half(a) if i < 15 else blank, half(b) if i >= 5 else blank])
            for i, (a, b) in enumerate(zip(left, right))]


def _upload(image: np.ndarray):
    """What the device pipeline does before the face stage runs: the (1, 3, H, W) float upload."""
    buf = DeviceFrameBuffer(image.shape[0], image.shape[1], "cpu", torch.float32)
    buf.load(image)
    return buf.frame_f


def _view(image: np.ndarray):
    """The upload of ``image`` as the (H, W, 3) device view the tracker hands its detector and landmarker."""
    return _upload(image)[0].permute(1, 2, 0)


def _pair_up(a, b):
    """Match detections of two lists by nearest box centre (NMS order may swap near-equal scores)."""
    pairs = []
    left = list(b)
    for x in a:
        cx = (x.box[:2] + x.box[2:]) / 2
        j = int(np.argmin([np.linalg.norm((y.box[:2] + y.box[2:]) / 2 - cx) for y in left]))
        pairs.append((x, left.pop(j)))
    return pairs


# -- the interpreter -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, lo, hi", [(DETECT_MODEL, -1.0, 1.0), (MESH_MODEL, 0.0, 1.0)],
                         ids=["blazeface", "facemesh"])
def test_interpreter_matches_onnxruntime_on_every_output(name, lo, hi):
    import onnxruntime as ort

    path = str(model_path(name))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    module = build_module(path, "cpu", torch.float32, all_outputs=True)
    x = np.random.default_rng(3).uniform(lo, hi, (2, 3, 192, 192)).astype(np.float32)  # the model's input range
    ref = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        got = module(torch.from_numpy(x))
        first = build_module(path, "cpu", torch.float32)(torch.from_numpy(x))
    assert isinstance(got, tuple) and len(got) == len(ref) == 2
    for r, g in zip(ref, got):
        g = g.numpy()
        assert g.shape == r.shape and g.dtype == np.float32
        scale = float(np.abs(r).max())
        assert scale > 1.0  # a real signal, not all zeros
        # measured ~7e-7 of the output's magnitude (float32 reassociation only)
        assert float(np.abs(g - r).max()) <= 1e-5 * scale, name
    # without all_outputs: the first graph output alone, as the look translators use it
    assert torch.is_tensor(first) and torch.equal(first, got[0])


# -- detector ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("picture", ["img1.jpg", "couple.jpg"])
def test_device_blazeface_matches_the_cpu_detector(picture, host_models, device_models):
    img = read_rgb(shared_path("faces", "deepface_tests", picture))
    host, _ = host_models
    dev, _ = device_models
    frame = _view(img)
    for method in ("detect_raw", "detect_tiled"):
        a, b = getattr(host, method)(img), getattr(dev, method)(frame)
        assert len(a) == len(b) >= 1, method
        assert len(a) == (2 if picture == "couple.jpg" else 1)
        for x, y in _pair_up(a, b):
            # measured: boxes <= 0.34 px, keypoints <= 0.55 px, scores <= 0.002
            assert np.abs(x.box - y.box).max() < 2.0, method
            assert np.abs(x.keypoints - y.keypoints).max() < 2.0, method
            assert abs(x.score - y.score) < 0.01, method


def test_device_blazeface_tiles_find_the_small_faces_the_cpu_tiles_find(crowd_frame, host_models, device_models):
    """720p: the CPU letterbox pre-shrinks by an integer factor, the device one does not; four tiles."""
    img = crowd_frame
    host, _ = host_models
    dev, _ = device_models
    frame = _view(img)
    a, b = host.detect_tiled(img), dev.detect_tiled(frame)
    assert len(a) == len(b) == 4  # the whole-frame pass finds one; the tiles find the other faces
    assert len(dev.detect_raw(frame)) == len(host.detect_raw(img)) == 1
    for x, y in _pair_up(a, b):
        # measured: boxes <= 0.49 px, keypoints <= 0.84 px, scores <= 0.007 (0.012 at 640x360)
        assert np.abs(x.box - y.box).max() < 2.0
        assert np.abs(x.keypoints - y.keypoints).max() < 2.0
        assert abs(x.score - y.score) < 0.025


# -- landmarker ----------------------------------------------------------------------------------------

def test_device_facemesh_matches_the_cpu_landmarker_on_the_same_rois(host_models, device_models):
    img = read_rgb(shared_path("faces", "deepface_tests", "couple.jpg"))
    host_det, host_mesh = host_models
    _, dev_mesh = device_models
    dets = host_det.detect(img)
    assert len(dets) == 2
    rois = np.stack([roi_from_detection(d.box, d.keypoints) for d in dets])
    # a third ROI on background (no face): presence must agree on that too; a fourth rotated by 30 degrees
    rois = np.concatenate([rois, [[40.0, 300.0, 60.0, 0.0]], rois[:1] + [0.0, 0.0, 0.0, np.pi / 6]])
    la, pa = host_mesh.run(img, rois)
    lb, pb = dev_mesh.run(_view(img), rois)
    assert la.shape == lb.shape == (4, 468, 2)
    dist = np.linalg.norm(la - lb, axis=-1)
    # measured: mean 0.026 px, max 0.07 px (faces)
    assert dist[[0, 1, 3]].mean() < 0.1 and dist[[0, 1, 3]].max() < 0.5
    assert (pa[[0, 1, 3]] > 0.9).all() and (pb[[0, 1, 3]] > 0.9).all()
    assert pa[2] < 0.5 and pb[2] < 0.5  # nothing there
    assert np.abs(pa - pb).max() < 0.02


def test_the_device_stages_refuse_a_host_frame_with_one_line(device_models):
    det, mesh = device_models
    img = np.zeros((360, 640, 3), np.uint8)
    one_line = r"needs the uploaded frame, an \(H, W, 3\) tensor on cpu; got ndarray \(360, 640, 3\)$"
    with pytest.raises(TypeError, match=one_line):
        det.detect(img)
    with pytest.raises(TypeError, match="needs the uploaded frame"):
        mesh.run(img, np.array([[320.0, 180.0, 100.0, 0.0]]))
    tracker = create_device_tracker(device="cpu")
    with pytest.raises(ValueError, match=r"must be \(1, 3, H, W\), got \(360, 640, 3\)"):
        tracker.track_tensor(torch.from_numpy(img))


def test_the_device_face_stage_reads_the_frame_it_is_handed(device_models):
    """No side channel: interleaved calls on two uploads give each upload's own faces."""
    couple = read_rgb(shared_path("faces", "deepface_tests", "couple.jpg"))
    single = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    det, _ = device_models
    a, b = _view(couple), _view(single)
    want_a, want_b = det.detect_raw(a), det.detect_raw(b)
    assert len(want_a) == 2 and len(want_b) == 1
    for _ in range(2):
        got_b, got_a = det.detect_raw(b), det.detect_raw(a)
        assert [d.score for d in got_a] == [d.score for d in want_a]
        assert [d.score for d in got_b] == [d.score for d in want_b]
    # the tracker: what track_tensor is handed is what its detector and landmarker get
    seen = []
    tracker = create_device_tracker(TrackerConfig(fps=30), device="cpu")
    detect = tracker.detector.detect

    def spy(image):
        seen.append(image)
        return detect(image)

    tracker.detector.detect = spy
    frame = _upload(couple)
    faces = tracker.track_tensor(frame)
    assert len(faces) == 2 and len(seen) == 1
    assert seen[0].shape == (couple.shape[0], couple.shape[1], 3)
    assert seen[0].data_ptr() == frame.data_ptr()  # a view of the upload itself, not a copy
    assert tracker.track_tensor(torch.zeros_like(frame)) == []  # a black upload: nothing, whatever came before


# -- tracker -------------------------------------------------------------------------------------------

def test_device_tracker_follows_the_cpu_tracker_over_video(duet):
    cfg = dict(detect_every=5, max_faces=4, fps=30)  # frame-count clock: smoothing is timing-independent
    host = create_tracker(TrackerConfig(**cfg))
    dev = create_device_tracker(TrackerConfig(**cfg), device="cpu")
    assert isinstance(dev, DeviceFaceTracker) and dev.device == torch.device("cpu")
    assert isinstance(dev.detector, DeviceBlazeFace) and isinstance(dev.landmarker, DeviceFaceMesh)
    counts, ids, worst = [], [], 0.0
    for f in duet:
        a = host.update(f)
        b = dev.track_tensor(_upload(f))
        assert len(a) == len(b)
        assert [x.track_id for x in a] == [y.track_id for y in b]
        for x, y in zip(a, b):
            worst = max(worst, float(np.abs(x.keypoints - y.keypoints).max()))
            assert np.linalg.norm(x.landmarks - y.landmarks, axis=-1).mean() < 0.5
        counts.append(len(a))
        ids.append([x.track_id for x in a])
    # measured: keypoints <= 0.56 px (at the first detection; <= 0.2 px once tracked)
    assert worst < 1.5
    assert counts == [1] * 5 + [2] * 10 + [1] * 5
    assert ids[0] == [0] and ids[5] == [0, 1] and ids[-1] == [1]
    assert dev.detections == host.detections >= 4
