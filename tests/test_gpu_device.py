"""The device pipeline on a real GPU (marked ``gpu``; skipped cleanly without CUDA).

What would go wrong on the first CUDA run, each checked here: face counts changing while the face
stage overlaps the styling (1 -> 2 -> 1, and a 4-face mosaic) with no passthrough frame and no
graph captured after the warm-up; CUDA against the CPU device at 1080p (crops, landmarks, masks
with occluders, the final frame); two pipelines in one process; TensorRT end to end when it is
installed; and no implicit host synchronisation in the styling path.
"""

import threading

import cv2
import numpy as np
import pytest

from benchmarks.replay import decode_frames, tile_faces
from conftest import cuda_available, read_rgb, shared_path
from fakes import CollectSink, ListSource
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import LiveControls
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from livefilter.types import Tracked

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.gpu

VIDEO = ("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4")


def _device_pipeline(device="cuda", max_faces=4, backend=None, **kw):
    backend = backend or ("torch-cuda" if device == "cuda" else "torch-cpu")
    pipe = build_pipeline(PipelineSettings(backend=backend, max_faces=max_faces, **kw))
    pipe.tracker.config.fps = 30.0
    return pipe


@pytest.fixture(scope="module")
def clip_1080p():
    return decode_frames(str(shared_path(*VIDEO)), (1920, 1080), 40)[8:40]


def test_face_counts_changing_and_a_4_face_mosaic_overlapped_never_pass_through_or_capture(clip_1080p):
    from livefilter.gpu.graphs import ledger

    assert cuda_available()
    one, four = clip_1080p[:12], tile_faces(clip_1080p[12:24], 4)
    # 1 face, then the mosaic (4), then 1 again, then 2 (the mosaic's top half only)
    two = [np.ascontiguousarray(np.vstack([f[: f.shape[0] // 2], np.zeros_like(f[f.shape[0] // 2:])])) for f in four[:8]]
    frames = one + four + one[:6] + two
    pipe = _device_pipeline()
    pipe.warm_up()
    before = ledger.snapshot()
    sink, counts = CollectSink(), []
    n = pipe.run(ListSource(frames), sink, overlap=True, on_frame=lambda f, o: counts.append(len(pipe.last_faces)))
    assert n == len(frames)
    assert pipe.stats.passthrough == 0, pipe.stats.errors
    assert ledger.snapshot() == before  # no capture, no refused graph after the warm-up
    assert {1, 4} <= set(counts) and 2 in counts


def test_cuda_matches_the_cpu_device_at_1080p_crops_landmarks_masks_and_frame(clip_1080p):
    from livefilter.align.device import warp_crops, warp_thetas

    frame = clip_1080p[4]
    cpu, gpu = _device_pipeline("cpu", 1), _device_pipeline("cuda", 1)
    faces_c, faces_g = cpu.track(frame.copy()).faces, gpu.track(frame.copy()).faces
    assert faces_c and faces_g and len(faces_c) == len(faces_g)
    # landmarks: the device face stage on CUDA against the same stage on the CPU device
    lc, lg = faces_c[0].landmarks, faces_g[0].landmarks
    assert np.abs(lc - lg).max() < 0.5  # sub-pixel at 1080p (FP32 geometry)
    # crops: FP32 grids, BORDER_REFLECT_101
    rt = cpu.runtime(cpu.controls.look)
    mats = rt.aligner.transforms(faces_c)
    f32 = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    theta = torch.from_numpy(warp_thetas(mats, frame.shape[:2], rt.look.input_size))
    a = warp_crops(f32, theta, rt.look.input_size)
    b = warp_crops(f32.cuda(), theta.cuda(), rt.look.input_size).cpu()
    assert (a - b).abs().max() < 0.05
    # masks (oval + an occluder) through the crop-space chain on both devices
    from livefilter.composite.crop_stage import CropStage

    s = rt.look.input_size
    chains = [CropStage(s, rt.blender.mask, rt.masker.feather_px, 1, d, 1, d == "cuda") for d in ("cpu", "cuda")]
    crop_pts = faces_c[0].landmarks @ mats[0][:, :2].T + mats[0][:, 2]
    occ = np.zeros((s, s), np.uint8)
    occ[s // 2:s // 2 + 20, s // 3:s // 2] = 1
    from livefilter.detect.topology import FACE_OVAL

    outs = []
    for chain in chains:
        chain.warm_up()
        h = chain.params.host
        h["oval"][0] = crop_pts[list(FACE_OVAL)]
        h["alpha"][0], h["have"][0], h["edits"][:] = 1.0, 1.0, 0.0
        h["pixels"][0, 0] = occ
        chain.params.upload(1)
        chain.crops[:1].zero_()
        outs.append(chain.run(torch.full((1, 3, s, s), 255.0, device=chain.device), 1)[0].cpu())
    assert (outs[0] - outs[1]).abs().max() < 0.5
    # the final frame
    out_c, out_g = cpu.process(frame.copy(), Tracked(faces_c)), gpu.process(frame.copy(), Tracked(faces_c))
    assert cpu.stats.passthrough == 0 and gpu.stats.passthrough == 0
    diff = np.abs(out_c.astype(int) - out_g)
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 8


def test_two_pipelines_in_one_process_give_what_each_gives_alone(clip_1080p):
    frames = [cv2.resize(f, (1280, 720)) for f in clip_1080p[:10]]
    alone = []
    for look in ("glam", "toon"):
        sink = CollectSink()
        p = _device_pipeline(look=look)
        p.run(ListSource(frames), sink, overlap=True)
        alone.append(sink.frames)
    pipes = [_device_pipeline(look=look) for look in ("glam", "toon")]
    sinks = [CollectSink(), CollectSink()]
    threads = [threading.Thread(target=p.run, args=(ListSource(frames), s), kwargs={"overlap": True})
               for p, s in zip(pipes, sinks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for want, got, p in zip(alone, sinks, pipes):
        assert p.stats.passthrough == 0 and len(got.frames) == len(want)
        for a, b in zip(want, got.frames):
            assert np.abs(a.astype(int) - b).mean() < 0.5  # fp16 translators: identical up to rounding


def test_tensorrt_end_to_end_in_the_device_pipeline_against_onnxruntime(tmp_path, clip_1080p):
    pytest.importorskip("tensorrt")
    from livefilter.engines.cache import EngineCache
    from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
    from livefilter.translate.tensorrt_backend import TensorRTTranslator

    look = LookRegistry().default()
    cache = EngineCache(tmp_path / "engines")
    trt = TensorRTTranslator(look, max_faces=4, cache=cache)  # builds
    again = TensorRTTranslator(look, max_faces=4, cache=cache)  # deserialises the cached engine
    ref = OnnxRuntimeTranslator(look, device="cpu", max_batch=4)
    crops = np.random.default_rng(0).integers(0, 256, (4, look.input_size, look.input_size, 3), np.uint8)
    style = np.asarray(look.style_code, np.float32) if look.style_code else None
    want = ref(crops, style, np.ones(4, np.float32)).astype(int)
    for t in (trt, again):
        got = t(crops, style, np.ones(4, np.float32)).astype(int)
        assert np.abs(got - want).mean() < 2.0  # FP16 engine against FP32 onnxruntime
    pipe = _device_pipeline(backend="tensorrt", max_faces=4)
    assert pipe.runtime(pipe.controls.look).translator.name.startswith("tensorrt")
    sink = CollectSink()
    pipe.run(ListSource(tile_faces(clip_1080p[:8], 4)), sink, overlap=True)
    assert pipe.stats.passthrough == 0 and len(sink.frames) == 8


def test_auto_takes_tensorrt_when_it_is_installed():
    pytest.importorskip("tensorrt")
    pipe = _device_pipeline(backend="auto", max_faces=1)
    assert pipe.runtime(pipe.controls.look).translator.name.startswith("tensorrt")


@pytest.mark.parametrize("output_format", ["RGB", "I420"])
def test_no_implicit_host_sync_in_the_styling_path_with_edits_and_smoothing(output_format):
    """torch's sync debug mode raises on any implicit synchronisation (pageable copies, .item(),
    .cpu()); the frame's explicit download wait is the only one allowed."""
    from livefilter.gpu.frames import DeviceFrameBuffer
    from livefilter.pipeline.device import DeviceStyling, device_pipeline
    from livefilter.looks.pack import ColorEdits
    from livefilter.translate.torch_backend import TorchCudaTranslator
    from fakes import FixedFaceTracker

    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    frame = np.ascontiguousarray(cv2.resize(img, (1280, 720)))
    pipe = device_pipeline(FixedFaceTracker(scale=3.0, offset=(400.0, 150.0)), LookRegistry().get,
                          lambda lk: TorchCudaTranslator(lk), LiveControls(look="glam", strength=0.8),
                          device="cuda", temporal=0.5, output_format=output_format)
    pipe.update(edits=ColorEdits(brightness=0.2, saturation=-0.3))
    for _ in range(3):
        pipe.process(frame.copy())
    tracked = pipe.track(frame.copy())
    faces = tracked.faces
    torch.cuda.synchronize()
    download = DeviceFrameBuffer.download

    def download_allowed(self, result, stream=None):
        torch.cuda.set_sync_debug_mode(0)
        try:
            return download(self, result, stream)
        finally:
            torch.cuda.set_sync_debug_mode("error")

    DeviceFrameBuffer.download = download_allowed
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = pipe.styling.style(frame.copy(), tracked, faces, pipe.runtime("glam"), pipe.controls,
                                 np.full(len(faces), 0.8, np.float32))
    finally:
        torch.cuda.set_sync_debug_mode(0)
        DeviceFrameBuffer.download = download
    assert out.shape == (frame.shape if output_format == "RGB" else (frame.shape[0] * 3 // 2, frame.shape[1]))
