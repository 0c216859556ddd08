"""GPU decoding (NVDEC source): the choice between NVDEC and PyAV, the threaded source with a decoder
that hands out torch tensors, the device pipeline fed from it, and planar (I420 / NV12) output."""

import importlib.util
import threading

import cv2
import numpy as np
import pytest

from benchmarks.replay import decode_frames
from conftest import REPO_ROOT, shared_path
from fakes import CollectSink
from livefilter.errors import BackendUnavailable, InputError, SettingError
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from livefilter.sinks.pixel_format import PixelConverter, to_rgb
from livefilter.sources.registry import parse_input

torch = pytest.importorskip("torch")

from livefilter.sources.device_source import (  # noqa: E402
    DeviceDecodeSource,
    TorchcodecDecoder,
    open_decode_source,
)
from livefilter.sources.decoders import choose_decode  # noqa: E402

VIDEO = ("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4")


@pytest.fixture(scope="module")
def frames():
    """Frames 13..18 of a real clip (a face in each) at 640x360, decoded by PyAV."""
    return decode_frames(str(shared_path(*VIDEO)), (640, 360), 19)[13:19]


class TensorDecoder:
    """A GPU decoder stand-in: frames are torch tensors (on the CPU here), like torchcodec's NHWC
    output, with optional odd size, a failure at one index or a wrong layout."""

    def __init__(self, frames, fps=25.0, known_length=True, fail_at=None, layout="HWC", pad=(0, 0)):
        self._frames = [torch.from_numpy(np.pad(f, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="edge")) for f in frames]
        self.height, self.width = self._frames[0].shape[:2] if frames else (0, 0)
        self.fps = fps
        self.frame_count = len(frames) if known_length else None
        self._fail_at, self._layout = fail_at, layout
        self.reads: list[int] = []
        self.closed = False

    def frame(self, index):
        self.reads.append(index)
        if index == self._fail_at:
            raise RuntimeError("NVDEC error 700: an illegal memory access was encountered\nsecond line")
        if index >= len(self._frames):
            raise IndexError(index)
        f = self._frames[index]
        return f.permute(2, 0, 1) if self._layout == "CHW" else f

    def close(self):
        self.closed = True


def _file_spec():
    return parse_input(str(shared_path(*VIDEO)))


def _read_all(source, limit=100):
    out = []
    while len(out) < limit:
        f = source.read()
        if f is None:
            break
        out.append(f)
    return out


# -- choosing the decoder ----------------------------------------------------------------------------

def _with_torchcodec(monkeypatch, installed: bool):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (object() if installed else None) if name == "torchcodec" else real(name, *a))


def test_cpu_decoding_is_always_possible():
    assert choose_decode("cpu", _file_spec(), "cuda", None) == "cpu"
    assert choose_decode("cpu", parse_input("0"), None, None) == "cpu"


def test_auto_takes_nvdec_only_for_a_file_into_a_cuda_pipeline(monkeypatch):
    _with_torchcodec(monkeypatch, installed=True)
    spec = _file_spec()
    assert choose_decode("auto", spec, "cuda", None) == "nvdec"
    assert choose_decode("nvdec", spec, "cuda", None) == "nvdec"
    assert choose_decode("auto", spec, "cpu", None) == "cpu"  # the torch-cpu pipeline
    assert choose_decode("auto", spec, None, None) == "cpu"  # a host pipeline (onnxruntime)
    assert choose_decode("auto", spec, "cuda", (1280, 720)) == "cpu"  # --scale resizes in PyAV
    assert choose_decode("auto", parse_input("rtsp://127.0.0.1:8554/cam"), "cuda", None) == "cpu"
    _with_torchcodec(monkeypatch, installed=False)
    assert choose_decode("auto", spec, "cuda", None) == "cpu"


@pytest.mark.parametrize("spec,device,scale,installed,why", [
    ("rtsp://127.0.0.1:8554/cam", "cuda", None, True, "live"),
    ("{video}", "cpu", None, True, "CUDA device"),
    ("{video}", None, None, True, "CUDA device"),
    ("{video}", "cuda", (640, 360), True, "--scale"),
    ("{video}", "cuda", None, False, "torchcodec is not installed"),
])
def test_asking_for_nvdec_where_it_cannot_work_says_why(monkeypatch, spec, device, scale, installed, why):
    _with_torchcodec(monkeypatch, installed)
    spec = _file_spec() if spec == "{video}" else parse_input(spec)
    with pytest.raises(SettingError, match="--decode nvdec is not possible") as e:
        choose_decode("nvdec", spec, device, scale)
    assert why in str(e.value) and "\n" not in str(e.value)


def test_an_unknown_decode_mode_is_refused():
    with pytest.raises(SettingError, match="--decode must be one of auto, cpu, nvdec"):
        choose_decode("gpu", _file_spec(), "cuda", None)


@pytest.mark.skipif(importlib.util.find_spec("torchcodec") is not None, reason="torchcodec is installed here")
def test_without_torchcodec_the_decoder_is_unavailable_not_a_crash():
    with pytest.raises(BackendUnavailable, match="torchcodec"):
        TorchcodecDecoder(str(shared_path(*VIDEO)))
    with pytest.raises(BackendUnavailable, match="nvdec"):
        open_decode_source(_file_spec())


# -- the source --------------------------------------------------------------------------------------

@pytest.mark.parametrize("known_length", [True, False])
def test_frames_arrive_in_order_as_device_tensors_then_the_stream_ends(frames, known_length):
    dec = TensorDecoder(frames, fps=25.0, known_length=known_length, pad=(1, 1))  # 641x361 as decoded
    src = open_decode_source(_file_spec(), decoder_factory=lambda target: dec)
    try:
        assert (src.info.width, src.info.height) == (640, 360)  # cropped to an even size for I420 / NV12
        assert src.info.fps == 25.0 and not src.info.is_live and "nvdec" in src.info.description
        got = _read_all(src)
        assert src.read() is None  # stays ended
    finally:
        src.close()
    assert dec.closed
    assert [f.index for f in got] == list(range(len(frames)))
    assert [f.pts_seconds for f in got] == pytest.approx([i / 25.0 for i in range(len(frames))])
    for f, ref in zip(got, frames):
        assert isinstance(f.image, torch.Tensor) and tuple(f.image.shape) == (360, 640, 3)
        assert np.array_equal(f.image.numpy(), ref)
    assert all(a.captured_at <= b.captured_at for a, b in zip(got, got[1:]))


def test_looping_restarts_at_the_first_frame_with_running_indices(frames):
    dec = TensorDecoder(frames[:3])
    src = DeviceDecodeSource(_file_spec(), dec, loop=True)
    try:
        got = _read_all(src, limit=8)
    finally:
        src.close()
    assert [f.index for f in got] == list(range(8))
    for i, f in enumerate(got):
        assert np.array_equal(f.image.numpy(), frames[i % 3])


def test_a_decoder_failure_ends_the_stream_with_a_one_line_input_error(frames):
    dec = TensorDecoder(frames, fail_at=3)
    src = DeviceDecodeSource(_file_spec(), dec)
    try:
        got = [src.read() for _ in range(3)]
        with pytest.raises(InputError, match="GPU decoding failed") as e:
            src.read()
    finally:
        src.close()
    assert [f.index for f in got] == [0, 1, 2]
    assert "illegal memory access" in str(e.value) and "\n" not in str(e.value)


def test_a_decoder_with_the_wrong_layout_is_an_input_error(frames):
    src = DeviceDecodeSource(_file_spec(), TensorDecoder(frames, layout="CHW"))
    try:
        with pytest.raises(InputError, match=r"returned \(3, 360, 640\), not \(H, W, 3\)"):
            src.read()
    finally:
        src.close()


def test_a_file_without_frames_or_size_is_an_input_error(frames):
    empty = TensorDecoder(frames[:1], known_length=False)
    empty._frames = []  # the header names a size, but nothing decodes
    src = DeviceDecodeSource(_file_spec(), empty)
    try:
        with pytest.raises(InputError, match="no decodable video frames"):
            src.read()
    finally:
        src.close()
    sizeless = TensorDecoder([])
    with pytest.raises(InputError, match="no frame size"):
        DeviceDecodeSource(_file_spec(), sizeless)
    assert sizeless.closed


def test_live_inputs_are_not_decoded_on_the_gpu(frames):
    with pytest.raises(SettingError, match="url input uses PyAV"):
        DeviceDecodeSource(parse_input("rtsp://127.0.0.1:8554/cam"), TensorDecoder(frames))


def test_close_stops_a_decoder_blocked_on_a_full_slot(frames):
    dec = TensorDecoder(frames * 20)  # more frames than the slot holds; nobody reads
    src = DeviceDecodeSource(_file_spec(), dec)
    threading.Event().wait(0.2)
    src.close()
    assert not src._thread.is_alive()
    assert len(dec.reads) < len(frames) * 20  # back-pressure: it did not run ahead


# -- into the device pipeline ------------------------------------------------------------------------

_Collect = CollectSink


def test_a_pipeline_fed_device_tensors_matches_one_fed_host_frames(frames):
    from benchmarks.replay import ReplaySource

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outs = []
        for source in (DeviceDecodeSource(_file_spec(), TensorDecoder(frames)),
                       ReplaySource(frames, 25.0, len(frames))):
            pipe = build_pipeline(PipelineSettings(backend="torch-cpu"))
            pipe.tracker.config.fps = 25.0
            sink = _Collect()
            try:
                assert pipe.run(source, sink, overlap=True) == len(frames)
            finally:
                source.close()
            assert pipe.stats.passthrough == 0 and pipe.stats.errors == {}
            outs.append(sink.frames)
    finally:
        torch.set_num_threads(n)
    for a, b, f in zip(*outs, frames):
        assert isinstance(a, np.ndarray) and a.shape == f.shape and a.dtype == np.uint8
        assert (a != f).any(-1).sum() > 3000  # styled
        # the same pipeline; only the occluder crops may differ (warped on the device vs. by OpenCV)
        assert np.abs(a.astype(int) - b).mean() < 0.02  # measured: 0.0 on every frame


# -- planar output -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["I420", "NV12"])
def test_planar_frames_pass_through_the_sink_converter_and_back_to_rgb(frames, fmt):
    rgb = frames[0]
    host = PixelConverter(fmt, 640, 360)(rgb).copy()  # converted on the host
    conv = PixelConverter(fmt, 640, 360)
    assert conv(host) is host  # converted already (on the device): handed on as is
    back = to_rgb(host, fmt)
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).mean() < 2.0
    assert to_rgb(rgb, fmt) is rgb
    with pytest.raises(ValueError, match="planar"):
        PixelConverter("RGB", 640, 360)(host)
    with pytest.raises(ValueError, match="planar"):
        PixelConverter(fmt, 320, 180)(host)
    with pytest.raises(ValueError, match="I420 or NV12"):
        to_rgb(host, "BGR")


@pytest.mark.parametrize("fmt", ["I420", "NV12"])
def test_the_preview_shows_planar_output_in_colour(frames, fmt):
    from livefilter.control.preview import PreviewTap

    rgb = frames[0]
    tap = PreviewTap(width=320, max_rate=60.0)
    tap.pixel_format = fmt
    tap.push(PixelConverter(fmt, 640, 360)(rgb).copy())
    jpeg, seq = tap.jpeg()
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    ref = cv2.resize(rgb, (320, 180), interpolation=cv2.INTER_AREA)
    assert img.shape == ref.shape and np.abs(img.astype(int) - ref).mean() < 6.0


# -- the command line --------------------------------------------------------------------------------

@pytest.mark.parametrize("args,msg", [
    (["--decode", "nvdec"], "--decode nvdec is not possible"),
    (["--decode", "fast"], "--decode must be one of"),
])
def test_run_with_an_impossible_decode_is_one_line_and_nonzero(tmp_path, args, msg):
    import os
    import subprocess
    import sys

    env = dict(os.environ, LIVEFILTER_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "livefilter", "run", "-i", str(shared_path(*VIDEO)), "-o", "null",
                        "--backend", "onnxruntime-cpu", *args], capture_output=True, text=True, env=env,
                       cwd=REPO_ROOT, timeout=300)
    assert r.returncode != 0
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("detector, backend, cuda, expected", [
    ("blazeface", "torch-cuda", True, "cuda"),  # the device face stage reads the decoded frames
    ("insightface", "torch-cuda", True, None),  # a host face stage needs host frames: no GPU decoding
    ("blazeface", "torch-cuda", False, None),  # no CUDA: the host pipeline
    ("blazeface", "onnxruntime", True, None),
])
def test_frames_are_decoded_onto_the_device_only_for_a_device_face_stage(monkeypatch, detector, backend, cuda, expected):
    from livefilter.pipeline import session

    monkeypatch.setattr(session, "_cuda_torch", lambda: cuda)
    settings = session.PipelineSettings(backend=backend, detector=detector)
    assert session.decode_device(settings) == expected
