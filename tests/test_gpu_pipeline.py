"""The device pipeline produces the CPU pipeline's frames (CPU device here; CUDA when present)."""

import numpy as np
import pytest

from conftest import read_rgb, shared_path
from fakes import FixedFaceTracker
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import LiveControls, Pipeline
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator

torch = pytest.importorskip("torch")

from livefilter.pipeline.device import DeviceStyling, device_pipeline  # noqa: E402
from livefilter.translate.torch_backend import TorchCudaTranslator  # noqa: E402


def _frame():
    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    return np.ascontiguousarray(img[:384, :368])


def _pair(device):
    reg = LookRegistry()
    controls = LiveControls(look="glam", strength=0.9)
    cpu = Pipeline(FixedFaceTracker(), reg.get, lambda lk: OnnxRuntimeTranslator(lk), controls)
    dev = device_pipeline(FixedFaceTracker(), reg.get,
                         lambda lk: TorchCudaTranslator(lk, device=device, precision="fp32" if device == "cpu" else "fp16"),
                         controls, device=device)
    return cpu, dev


def _compare(device, tol_mean):
    cpu, dev = _pair(device)
    f = _frame()
    a = cpu.process(f.copy())
    b = dev.process(f.copy())
    diff = np.abs(a.astype(int) - b)
    assert dev.stats.passthrough == 0 and (b != f).any()
    assert diff.mean() < tol_mean and np.percentile(diff, 99.5) <= 6
    return diff


def test_device_path_matches_cpu_path_on_cpu():
    _compare("cpu", 0.6)


@pytest.mark.gpu
def test_device_path_matches_cpu_path_on_cuda_twice_with_random_delays():
    import random
    import time

    for _ in range(2):  # stream/event ordering: results must not depend on timing
        cpu, dev = _pair("cuda")
        f = _frame()
        time.sleep(random.random() * 0.01)
        a = cpu.process(f.copy())
        b = dev.process(f.copy())
        assert np.abs(a.astype(int) - b).mean() < 1.0


def test_device_masks_match_the_cpu_masker_and_pipeline_with_real_landmarks():
    from livefilter.align.host import Aligner
    from livefilter.detect import create_detector
    from livefilter.composite.device_masks import face_masks
    from livefilter.composite.masks import LandmarkMasker

    img = _frame()
    face = create_detector().detect(img)[0]
    al = Aligner(128)
    m = al.transform(face.keypoints)
    cpu_mask = LandmarkMasker(128).face(face.landmarks, m)
    dev_mask = face_masks((face.landmarks @ m[:, :2].T + m[:, 2])[None], 128, device="cpu").numpy()[0, 0]
    assert np.abs(cpu_mask - dev_mask).mean() < 0.02

    class Detected:
        def update(self, image):
            return [face]

        def reset(self):
            pass

    reg = LookRegistry()
    controls = LiveControls(look="glam")
    cpu = Pipeline(Detected(), reg.get, lambda lk: OnnxRuntimeTranslator(lk), controls)
    dev = device_pipeline(Detected(), reg.get, lambda lk: TorchCudaTranslator(lk, device="cpu", precision="fp32"),
                         controls, device="cpu")
    a, b = cpu.process(img.copy()), dev.process(img.copy())
    assert dev.stats.passthrough == 0
    assert np.abs(a.astype(int) - b).mean() < 0.6


def test_device_path_keeps_occluder_pixels():
    from livefilter.detect import create_detector

    img = _frame()
    face = create_detector().detect(img)[0]
    lo = face.landmarks[[61, 291, 152]]
    x0, x1 = int(lo[:, 0].min()) - 10, int(lo[:, 0].max()) + 10
    y0, y1 = int(lo[:, 1].min()) - 8, int(lo[:, 1].max())
    img[y0:y1, x0:x1] = (40, 80, 200)

    class Detected:
        def update(self, image):
            return [face]

        def reset(self):
            pass

    dev = device_pipeline(Detected(), LookRegistry().get,
                         lambda lk: TorchCudaTranslator(lk, device="cpu", precision="fp32"),
                         LiveControls(look="glam"), device="cpu")
    out = dev.process(img.copy())
    patch = np.abs(out[y0 + 4:y1 - 4, x0 + 4:x1 - 4].astype(int) - img[y0 + 4:y1 - 4, x0 + 4:x1 - 4])
    assert (patch.max(-1) <= 2).mean() > 0.95
    assert (out != img).any()
