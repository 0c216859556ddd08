"""The TensorRT translator's host path and device path against a stand-in engine.

TensorRT and CUDA cannot run here, so the stand-ins work on real memory: "device" buffers are
host allocations addressed by raw pointers, exactly as the translator hands them to TensorRT
(``set_tensor_address``), and the stand-in engine runs the look's real ONNX graph through
onnxruntime on whatever those addresses hold when ``execute_async_v3`` is called. This checks
the pointer bindings, shapes, dtypes, normalisation, style / strength inputs, the switch between
the host and device bindings, and that both paths give the onnxruntime translator's result.
"""

import ctypes
import sys
import types

import numpy as np
import onnxruntime as ort
import pytest

from livefilter.errors import ModelError
from livefilter.gpu import cuda_mem
from livefilter.translate import tensorrt_backend as tb
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from onnx_looks import make_look

torch = pytest.importorskip("torch")


def _view(ptr: int, shape, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    n = int(np.prod(shape)) * dtype.itemsize
    return np.frombuffer((ctypes.c_byte * n).from_address(ptr), dtype=dtype).reshape(shape)


class FakeMemory:
    """cuda_mem's API on host memory: pointers are real addresses, copies are memmove."""

    def __init__(self):
        self.keep = []
        self.syncs = 0
        mem = self

        class Stream:
            ptr = 0

            def synchronize(self):
                mem.syncs += 1

        class DeviceBuffer:
            def __init__(self, nbytes):
                self.nbytes = nbytes
                self._a = np.zeros(nbytes, np.uint8)
                self.ptr = self._a.ctypes.data

            @classmethod
            def alloc(cls, nbytes):
                return cls(nbytes)

            def free(self):
                pass

        class PinnedArray:
            def __init__(self, shape, dtype):
                self.array = np.zeros(shape, dtype)
                self.ptr = self.array.ctypes.data

        self.Stream, self.DeviceBuffer, self.PinnedArray = Stream, DeviceBuffer, PinnedArray

    @staticmethod
    def copy_htod_async(dst, src_ptr, nbytes, stream):
        ctypes.memmove(dst.ptr, src_ptr, nbytes)

    @staticmethod
    def copy_dtoh_async(dst_ptr, src, nbytes, stream):
        ctypes.memmove(dst_ptr, src.ptr, nbytes)


def fake_tensorrt(model_path: str, calls: list, version: str = "10.3.0") -> types.ModuleType:
    """An engine that is the ONNX graph, run by onnxruntime on the bound addresses. The runtime
    refuses any serialised engine but its own (``deserialize_cuda_engine`` returns None, as
    TensorRT does for an engine of another version or GPU); ``set_input_shape`` returns False
    outside the engine's profile (batch 1..4, the look's image size), as TensorRT does."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.nptype = lambda t: t
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    io = [(i.name, i.shape, "INPUT") for i in sess.get_inputs()] + [(o.name, o.shape, "OUTPUT") for o in sess.get_outputs()]

    class Logger:
        WARNING = 2

        def __init__(self, level=None):
            pass

    class Context:
        def __init__(self):
            self.addr, self.shapes = {}, {}

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr

        def set_input_shape(self, name, shape):
            calls.append({"set_input_shape": (name, tuple(shape))})
            want = next(s for n, s, _ in io if n == name)
            if not 1 <= shape[0] <= 4 or any(isinstance(d, int) and d != g for d, g in zip(want[1:], shape[1:])):
                return False
            self.shapes[name] = tuple(shape)
            return True

        def execute_async_v3(self, stream):
            n = self.shapes["image"][0]
            feeds = {name: _view(self.addr[name], self.shapes[name], np.float32).copy()
                     for name, _, mode in io if mode == "INPUT"}
            calls.append({"stream": stream, "n": n, "addr": dict(self.addr)})
            for (name, _, mode), y in zip([x for x in io if x[2] == "OUTPUT"], sess.run(None, feeds)):
                _view(self.addr[name], y.shape, np.float32)[...] = y
            return True

    class Engine:
        num_io_tensors = len(io)

        def get_tensor_name(self, i):
            return io[i][0]

        def get_tensor_shape(self, name):
            shape = next(s for n, s, _ in io if n == name)
            return [-1 if not isinstance(d, int) else d for d in shape]

        def get_tensor_dtype(self, name):
            return np.float32

        def get_tensor_mode(self, name):
            return next(m for n, _, m in io if n == name)

        def create_execution_context(self):
            return Context()

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine() if data == b"ENGINE" else None

    trt.Logger, trt.Runtime = Logger, Runtime
    return trt


@pytest.fixture(params=["10.3.0", "11.0.0"])
def setup(tmp_path, monkeypatch, request):
    look = make_look(tmp_path / "looks", "shift", kind="shift", size=64, with_style=True, with_strength=True)
    calls: list = []
    trt = fake_tensorrt(str(look.model_path), calls, request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(tb, "import_tensorrt", lambda: trt)
    engine = tmp_path / "shift.engine"
    engine.write_bytes(b"ENGINE")
    monkeypatch.setattr(tb, "build_engine", lambda look, settings, cache=None, progress=None, show_bar=True: engine)
    mem = FakeMemory()
    for name in ("Stream", "DeviceBuffer", "PinnedArray", "copy_htod_async", "copy_dtoh_async"):
        monkeypatch.setattr(cuda_mem, name, getattr(mem, name))
    return look, calls, mem


def _crops(n, size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8)


def test_the_host_path_matches_onnxruntime(setup):
    look, calls, mem = setup
    t = tb.TensorRTTranslator(look, max_faces=4)
    ref = OnnxRuntimeTranslator(look, device="cpu", max_batch=4)
    crops = _crops(3)
    strength = np.array([1.0, 0.5, 0.0], np.float32)
    got = t(crops, np.asarray(look.style_code, np.float32), strength).copy()
    want = ref(crops, np.asarray(look.style_code, np.float32), strength)
    assert got.shape == crops.shape and np.abs(got.astype(int) - want).max() <= 1
    assert (got != crops).any()  # the look did something
    assert calls[-1]["n"] == 3 and mem.syncs == 1  # one sync: the host protocol returns host crops
    shapes = [c for c in calls if "set_input_shape" in c]
    t(crops, np.asarray(look.style_code, np.float32), strength)
    assert [c for c in calls if "set_input_shape" in c] == shapes  # same batch: shapes are not set again


def test_the_device_path_binds_its_own_tensors_and_matches_the_host_path(setup):
    look, calls, mem = setup
    t = tb.TensorRTTranslator(look, max_faces=4)
    crops = _crops(2, seed=1)
    strength = np.array([0.8, 0.3], np.float32)
    host = t(crops, None, strength).copy()
    host_addr = calls[-1]["addr"]
    dev_in = torch.from_numpy(crops).permute(0, 3, 1, 2).float()
    dev = t.translate_tensor(dev_in, None, strength)
    assert tuple(dev.shape) == (2, 3, 64, 64) and dev.dtype == torch.float32
    dev_addr = calls[-1]["addr"]
    tensors = t._device_io.tensors
    assert dev_addr == {name: tensors[name].data_ptr() for name in tensors}  # its own buffers, not the host's
    assert set(dev_addr.values()).isdisjoint(host_addr.values())
    assert calls[-1]["stream"] == 0 and mem.syncs == 1  # no sync on the device path
    assert np.abs(dev.permute(0, 2, 3, 1).numpy() - host).max() <= 1
    again = t(crops, None, strength)  # back to the host bindings
    assert calls[-1]["addr"] == host_addr and np.array_equal(again, host)


def test_the_device_path_takes_a_scalar_strength_and_refuses_too_many_faces(setup):
    look, calls, _ = setup
    t = tb.TensorRTTranslator(look, max_faces=2)
    crops = torch.from_numpy(_crops(2, seed=2)).permute(0, 3, 1, 2).float()
    a = t.translate_tensor(crops, np.asarray(look.style_code, np.float32), 0.5).clone()
    b = t.translate_tensor(crops, None, np.array([0.5, 0.5], np.float32))
    assert torch.equal(a, b)  # the look's own style code is the default
    with pytest.raises(ValueError, match="exceed the engine's batch of 2"):
        t.translate_tensor(torch.zeros((3, 3, 64, 64)), None, np.ones(3, np.float32))


@pytest.mark.parametrize("backend,cuda,device", [
    ("tensorrt", True, "cuda"), ("auto", True, "cuda"), ("torch-cuda", True, "cuda"),
    ("onnxruntime-cuda", True, None), ("onnxruntime-cpu", True, None), ("tensorrt", False, None),
    ("auto", False, None), ("torch-cpu", False, "cpu"),
])
def test_tensorrt_runs_inside_the_device_pipeline_when_torch_has_cuda(monkeypatch, backend, cuda, device):
    from livefilter.pipeline import session

    monkeypatch.setattr(session, "_cuda_torch", lambda: cuda)
    assert session.pipeline_device(session.PipelineSettings(backend=backend)) == device


def test_a_refused_input_shape_is_an_error_not_a_silent_wrong_run(setup):
    look, calls, _ = setup
    t = tb.TensorRTTranslator(look, max_faces=4)
    t.runner.shapes["image"] = ((4, 3, 32, 32), np.float32)  # a shape outside the engine's profile
    with pytest.raises(ModelError, match=r"refused input shape \(2, 3, 32, 32\) for 'image'"):
        t(_crops(2), None, np.ones(2, np.float32))
    assert not [c for c in calls if "n" in c]  # nothing was executed


def test_the_engine_file_is_closed_after_loading(setup):
    import gc
    import warnings

    look, _, _ = setup
    gc.collect()  # what earlier tests left unclosed is collected now, outside the check
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tb.TensorRTTranslator(look, max_faces=2)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning) and ".engine" in str(w.message)]


def _cache_with(tmp_path, monkeypatch, first: bytes, rebuilt: bytes):
    """A real engine cache holding ``first`` for the look's key; a rebuild stores ``rebuilt``."""
    from livefilter.engines.cache import CacheKey, EngineCache

    key = CacheKey("ab" * 32, "tensorrt", "NVIDIA H200", "9.0", "570.1", "10.3.0", "fp16", 2, 64,
                   "trt10-strongly-typed")
    cache = EngineCache(tmp_path / "cache")
    cache.store(key, first, 1.0)
    builds = []

    def build(look, settings, cache, progress=None, show_bar=True):
        hit = cache.lookup(key)
        if hit is not None:
            return hit
        builds.append(show_bar)
        return cache.store(key, rebuilt, 1.0)

    monkeypatch.setattr(tb, "tensorrt_key", lambda look, settings, version: key)
    monkeypatch.setattr(tb, "build_engine", build)
    return cache, key, builds


def test_an_engine_tensorrt_refuses_is_dropped_and_rebuilt_once_with_the_progress_bar(setup, tmp_path, monkeypatch):
    look, _, _ = setup
    cache, key, builds = _cache_with(tmp_path, monkeypatch, b"STALE ENGINE", b"ENGINE")
    t = tb.TensorRTTranslator(look, max_faces=2, cache=cache)
    assert builds == [True] and cache.lookup(key).read_bytes() == b"ENGINE"
    assert t(_crops(1), None, np.ones(1, np.float32)).shape == (1, 64, 64, 3)


def test_an_engine_refused_after_its_rebuild_is_one_clear_error(setup, tmp_path, monkeypatch):
    look, _, _ = setup
    cache, key, builds = _cache_with(tmp_path, monkeypatch, b"STALE ENGINE", b"STILL NOT AN ENGINE")
    with pytest.raises(ModelError) as e:
        tb.TensorRTTranslator(look, max_faces=2, cache=cache)
    assert builds == [True] and "could not deserialise" in str(e.value) and "\n" not in str(e.value)
