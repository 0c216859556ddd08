"""Sources and sinks on real encoded video through PyAV, virtual camera via a registered backend."""

import threading
import time

import av
import cv2
import numpy as np
import pytest

from conftest import shared_path
from livefilter.errors import InputError, OutputError, SettingError
from livefilter.sinks import open_sink
from livefilter.sinks.file_sink import FileSink
from livefilter.sinks.pixel_format import PixelConverter
from livefilter.sources import open_source, parse_input
from livefilter.sources.frame_slot import FrameSlot
from livefilter.sources.spec import parse_size
from livefilter.types import CapturedFrame, SourceInfo


def _read_all(src):
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    return frames


def test_file_source_reads_every_frame_in_order():
    path = shared_path("video", "deepfacelive", "Obama_speaking.mp4")
    src = open_source(parse_input(str(path)))
    frames = _read_all(src)
    src.close()
    assert len(frames) == 259 and [f.index for f in frames] == list(range(259))
    assert frames[0].image.shape == (388, 512, 3) and frames[0].image.dtype == np.uint8
    assert src.info.fps == pytest.approx(30.0) and src.dropped == 0


def test_file_source_resizes():
    path = shared_path("video", "deepfacelive", "Obama_speaking.mp4")
    src = open_source(parse_input(str(path)), size=(256, 194 // 2 * 2))
    f = src.read()
    src.close()
    assert f.image.shape == (194, 256, 3)


def test_file_sink_keeps_rate_frame_count_and_copies_audio(tmp_path):
    path = shared_path("video", "face_recognition", "short_hamilton_clip.mp4")
    src = open_source(parse_input(str(path)))
    out = tmp_path / "o.mp4"
    sink = FileSink(str(out), src.info)
    n = 0
    while (f := src.read()) is not None:
        sink.write(f.image, f)
        n += 1
    sink.close()
    src.close()
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert float(v.average_rate) == pytest.approx(29.97, abs=0.01)
        assert len(c.streams.audio) == 1
        decoded = sum(1 for _ in c.decode(video=0))
    assert decoded == n == 275


def test_file_sink_refuses_to_overwrite(tmp_path):
    out = tmp_path / "x.mp4"
    out.write_bytes(b"keep me")
    info = SourceInfo(64, 64, 30.0, False)
    with pytest.raises(OutputError, match="--overwrite"):
        FileSink(str(out), info)
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("maker,msg", [
    (lambda p: p / "missing.mp4", "not found"),
    (lambda p: (p / "notes.mp4").write_text("hello, not a video") and p / "notes.mp4", "not a readable video"),
    (lambda p: (p / "empty.mp4").write_bytes(b"") or p / "empty.mp4", "empty"),
])
def test_bad_input_files(tmp_path, maker, msg):
    with pytest.raises(InputError, match=msg):
        open_source(parse_input(str(maker(tmp_path))))


def test_truncated_mp4_is_a_clear_error(tmp_path):
    data = shared_path("video", "deepfacelive", "Obama_speaking.mp4").read_bytes()
    bad = tmp_path / "trunc.mp4"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError):
        src = open_source(parse_input(str(bad)))
        try:
            _read_all(src)
        finally:
            src.close()


def test_unavailable_camera():
    with pytest.raises(InputError, match="camera|cannot open"):
        open_source(parse_input("/dev/video99"))


@pytest.mark.parametrize("value", ["12x", "0x0", "99999x10", "1281x720"])
def test_bad_sizes(value):
    with pytest.raises(SettingError):
        parse_size(value)


def test_input_classification():
    assert parse_input("0", system="Linux").target == "/dev/video0"
    assert parse_input("1", system="Windows").format == "dshow"
    assert parse_input("rtsp://127.0.0.1/x").options["rtsp_transport"] == "tcp"
    assert parse_input("screen", system="Linux").format == "x11grab"
    cam = parse_input("0", size=(640, 480), fps=30, system="Linux")
    assert cam.options == {"video_size": "640x480", "framerate": "30"}


def test_latest_slot_drops_old_frames_and_queue_slot_blocks():
    slot = FrameSlot(keep_latest=True)
    for i in range(5):
        slot.put(CapturedFrame(np.zeros(1), i, 0.0))
    assert slot.get(1).index == 4 and slot.dropped == 4
    q = FrameSlot(keep_latest=False, capacity=2)
    q.put(CapturedFrame(np.zeros(1), 0, 0.0))
    q.put(CapturedFrame(np.zeros(1), 1, 0.0))
    t = threading.Thread(target=q.put, args=(CapturedFrame(np.zeros(1), 2, 0.0),))
    t.start()
    time.sleep(0.2)
    assert t.is_alive()  # blocked: files are never dropped
    assert q.get(1).index == 0
    t.join(1)
    assert [q.get(1).index, q.get(1).index] == [1, 2] and q.dropped == 0


@pytest.mark.parametrize("fmt", ["RGB", "BGR", "I420", "NV12"])
def test_pixel_format_conversion_matches_opencv(fmt):
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    conv = PixelConverter(fmt, 64, 48)
    out = conv(rgb)
    if fmt == "RGB":
        assert out is rgb
    elif fmt == "BGR":
        assert np.array_equal(out, rgb[:, :, ::-1])
    else:
        i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
        assert np.array_equal(out[:48], i420[:48])
        if fmt == "NV12":
            back = cv2.cvtColor(out, cv2.COLOR_YUV2RGB_NV12)
            ref = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)
            assert np.array_equal(back, ref)
    assert conv(rgb) is out or fmt == "RGB"  # same buffer every frame


class _MemoryCam:
    """A pyvirtualcam backend that keeps the frames it is sent (selected explicitly by name)."""

    sent: list = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.shape, self.fourcc, self._device = (height, width), fourcc, device or "memory0"
        _MemoryCam.sent = []

    def send(self, frame):
        _MemoryCam.sent.append(frame.copy())

    def close(self):
        pass

    def device(self):
        return self._device

    def native_fourcc(self):
        return None


@pytest.mark.parametrize("fmt", ["RGB", "NV12"])
def test_virtualcam_sink_with_memory_backend(fmt):
    import pyvirtualcam

    from livefilter.sinks.virtualcam_sink import VirtualCamSink

    pyvirtualcam.register_backend("memory", _MemoryCam)
    info = SourceInfo(64, 48, 30.0, True)
    sink = VirtualCamSink(info, backend="memory", pixel_format=fmt)
    yy, xx = np.mgrid[0:48, 0:64]
    rgb = np.stack([xx * 4, yy * 5, 255 - xx * 3], -1).astype(np.uint8)  # smooth: chroma subsampling is lossless enough
    sink.write(rgb, CapturedFrame(rgb, 0, 0.0))
    sink.close()
    assert len(_MemoryCam.sent) == 1
    got = _MemoryCam.sent[0]
    if fmt == "RGB":
        assert np.array_equal(got.reshape(48, 64, 3), rgb)
    else:
        back = cv2.cvtColor(got.reshape(72, 64), cv2.COLOR_YUV2RGB_NV12)
        assert np.abs(back.astype(int) - rgb).mean() < 3


def test_virtualcam_unavailable_is_one_line():
    import pyvirtualcam.camera

    pyvirtualcam.camera.BACKENDS.pop("memory", None)
    info = SourceInfo(64, 48, 30.0, True)
    with pytest.raises(OutputError, match="virtual camera"):
        open_sink("virtualcam", info, vcam_device="/dev/video77")


def test_unknown_output():
    with pytest.raises(SettingError, match="unknown --output"):
        open_sink("printer", SourceInfo(64, 48, 30.0, True))
