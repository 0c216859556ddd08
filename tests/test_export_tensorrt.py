"""The TensorRT build flow against a recording stand-in for the ``tensorrt`` module (TensorRT itself
cannot be installed on CPU CI), modelling the 10.x and the 11.x API surface: strongly typed networks
(the creation flag on 10.x; always, and no weak-typing API, on 11.x), the FP16 graph with FP32 I/O,
1..N profile, workspace, optimisation level, timing cache reuse, the build's progress monitor, cache
hit on the second run, parse failures as one-line ModelErrors, and the not-installed path."""

import sys
import types

import numpy as np
import onnx
import pytest

from livefilter.engines import tensorrt_build as tb
from livefilter.engines.cache import EngineCache
from livefilter.engines.device_info import DeviceInfo
from livefilter.errors import BackendUnavailable, ModelError
from livefilter.translate import select
from onnx_looks import make_look

GPU = DeviceInfo("NVIDIA GeForce RTX 4090", "8.9", "560.35.03")


TENSORRT_VERSIONS = ["10.3.0", "11.0.0"]


class Recorder:
    def __init__(self):
        self.builds, self.timing_blobs_in, self.configs = 0, [], []
        self.parse_ok = True
        self.network_flags: list[int] = []
        self.parsed: list[onnx.ModelProto] = []
        self.phases: list[str] = []


def _elem_types(model: onnx.ModelProto) -> tuple[set, set]:
    """(element types of the graph's inputs and outputs, of its float initialisers)."""
    io = {v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)}
    weights = {t.data_type for t in model.graph.initializer if t.data_type in (onnx.TensorProto.FLOAT,
                                                                              onnx.TensorProto.FLOAT16)}
    return io, weights


def fake_tensorrt(rec: Recorder, version: str = "10.3.0") -> types.ModuleType:
    """TensorRT's Python API as far as the builder uses it. 10.x: ``STRONGLY_TYPED`` creation flag
    (value 1, as in NvInfer.h), weak typing still present but refused on a strongly typed network;
    11.x: no ``BuilderFlag.FP16``, no ``platform_has_fast_fp16``, networks always strongly typed."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    major = int(version.split(".")[0])

    class Logger:
        WARNING = 2

        def __init__(self, level=None):
            self.level = level

    class Err:
        def desc(self):
            return "No importer registered for op: GridSample"

        def node_name(self):
            return "/warp/GridSample"

        def node_operator(self):
            return "GridSample"

    class Parser:
        def __init__(self, network, logger):
            self.num_errors = 0

        def parse(self, data):
            rec.parsed.append(onnx.load_from_string(bytes(data)))  # real ONNX bytes, or this raises
            if not rec.parse_ok:
                self.num_errors = 1
            return rec.parse_ok

        def get_error(self, i):
            return Err()

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, mn, opt, mx):
            self.shapes[name] = (tuple(mn), tuple(opt), tuple(mx))

    class TimingCache:
        def __init__(self, blob):
            self.blob = bytes(blob)

        def serialize(self):
            return self.blob + b"+timing"

    class IProgressMonitor:
        def __init__(self):
            pass

    class Config:
        def __init__(self):
            self.flags, self.pools, self.profiles = set(), {}, []
            self.builder_optimization_level = None
            self.timing = None
            self.progress_monitor = None

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def set_flag(self, flag):
            self.flags.add(flag)

        def add_optimization_profile(self, p):
            self.profiles.append(p)

        def create_timing_cache(self, blob):
            rec.timing_blobs_in.append(bytes(blob))
            return TimingCache(blob)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.timing = cache
            return True

        def get_timing_cache(self):
            return self.timing

    class Network:
        def __init__(self, flags):
            self.strongly_typed = major >= 11 or bool(flags & (1 << 1))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            rec.network_flags.append(flags)
            if major >= 11:
                assert flags == 0  # no creation flags are left to set
            return Network(flags)

        def create_builder_config(self):
            c = Config()
            rec.configs.append(c)
            return c

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            rec.builds += 1
            if network.strongly_typed and config.flags & {"FP16"}:
                return None  # 10.x: "BuilderFlag::kFP16 is not allowed on a strongly typed network"
            mon = config.progress_monitor
            if mon is not None:
                for phase, steps in (("Building engine", 2), ("Tactic selection", 3)):
                    mon.phase_start(phase, None if phase == "Building engine" else "Building engine", steps)
                    for i in range(steps):
                        assert mon.step_complete(phase, i) is True
                    rec.phases.append(phase)
                mon.phase_finish("Tactic selection")
                mon.phase_finish("Building engine")
            return b"ENGINE" + bytes(str(sorted(config.flags)), "ascii")

    if major < 11:
        Builder.platform_has_fast_fp16 = True
        trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
        trt.BuilderFlag = types.SimpleNamespace(FP16="FP16", INT8="INT8", REFIT="REFIT")
    else:
        trt.BuilderFlag = types.SimpleNamespace(REFIT="REFIT", VERSION_COMPATIBLE="VERSION_COMPATIBLE")
    trt.Logger, trt.Builder, trt.OnnxParser, trt.IProgressMonitor = Logger, Builder, Parser, IProgressMonitor
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    return trt


@pytest.fixture
def look(tmp_path):
    return make_look(tmp_path / "looks", "shift", kind="shift", size=64, with_style=True, with_strength=True)


@pytest.fixture(params=TENSORRT_VERSIONS)
def trt_version(request):
    return request.param


@pytest.fixture
def rec(monkeypatch, trt_version):
    r = Recorder()
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(r, trt_version))
    monkeypatch.setattr(tb, "cuda_device", lambda: GPU)
    return r


def test_build_is_strongly_typed_from_an_fp16_graph_with_fp32_io(look, rec, tmp_path, trt_version):
    cache = EngineCache(tmp_path / "cache")
    path = tb.build_engine(look, tb.BuildSettings(max_faces=2), cache)
    assert rec.builds == 1 and path.read_bytes() == b"ENGINE[]"  # no weak-typing flag on any version
    assert rec.network_flags == [1 << 1 if trt_version.startswith("10.") else 0]
    io, weights = _elem_types(rec.parsed[0])
    assert io == {onnx.TensorProto.FLOAT} and weights == {onnx.TensorProto.FLOAT16}
    # the FP16 graph computes the look (onnxruntime on the parsed bytes against the FP32 original)
    import onnxruntime as ort

    feeds = {"image": np.random.default_rng(0).uniform(-1, 1, (2, 3, 64, 64)).astype(np.float32),
             "style": np.tile(np.asarray(look.style_code, np.float32), (2, 1)),
             "strength": np.full((2, 1), 0.7, np.float32)}
    half = ort.InferenceSession(rec.parsed[0].SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    full = ort.InferenceSession(str(look.model_path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert half.dtype == np.float32 and np.abs(half - full).max() < 2e-2
    # FP32: the look's own graph, unchanged
    tb.build_engine(look, tb.BuildSettings(max_faces=2, precision="fp32"), cache)
    assert rec.parsed[1].SerializeToString() == onnx.load(str(look.model_path)).SerializeToString()


def test_the_cache_key_carries_the_tensorrt_major_and_typing(look, rec, trt_version):
    key = tb.tensorrt_key(look, tb.BuildSettings(), trt_version)
    assert key.format == f"trt{trt_version.split('.')[0]}-strongly-typed"
    other = tb.tensorrt_key(look, tb.BuildSettings(), "10.3.0" if trt_version.startswith("11") else "11.0.0")
    assert other.digest() != key.digest() and "format" in key.mismatches(vars(other) | {"library_version": key.library_version})


def test_tensorrt_older_than_10_is_refused_in_one_line(look, monkeypatch, tmp_path):
    r = Recorder()
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(r, "8.6.1"))
    monkeypatch.setattr(tb, "cuda_device", lambda: GPU)
    with pytest.raises(BackendUnavailable, match=r"tensorrt 8\.6\.1: TensorRT 10 or newer"):
        tb.build_engine(look, tb.BuildSettings(), EngineCache(tmp_path / "cache"))
    assert r.builds == 0


def test_the_progress_bar_follows_the_builders_phases(look, rec, tmp_path):
    tb.build_engine(look, tb.BuildSettings(), EngineCache(tmp_path / "cache"))
    assert rec.phases == ["Building engine", "Tactic selection"]
    tb.build_engine(look, tb.BuildSettings(precision="fp32"), EngineCache(tmp_path / "cache"), show_bar=False)
    assert rec.configs[-1].progress_monitor is None and rec.phases == ["Building engine", "Tactic selection"]


def test_build_sets_profile_workspace_level_and_reuses_timing_cache(look, rec, tmp_path, trt_version):
    cache = EngineCache(tmp_path / "cache")
    settings = tb.BuildSettings(max_faces=3, precision="fp16", optimization_level=4, workspace_mb=512)
    path = tb.build_engine(look, settings, cache)
    assert rec.builds == 1 and path.read_bytes().startswith(b"ENGINE")
    cfg = rec.configs[0]
    assert not cfg.flags and cfg.pools["WORKSPACE"] == 512 << 20 and cfg.builder_optimization_level == 4
    (profile,) = cfg.profiles
    assert profile.shapes["image"] == ((1, 3, 64, 64), (1, 3, 64, 64), (3, 3, 64, 64))
    assert profile.shapes["style"] == ((1, 4), (1, 4), (3, 4)) and profile.shapes["strength"][2] == (3, 1)
    timing = tb.timing_cache_path(cache, tb.tensorrt_key(look, settings, trt_version))
    assert timing.read_bytes() == b"+timing" and rec.timing_blobs_in == [b""]
    # same look, same GPU: a cache hit, nothing is built
    assert tb.build_engine(look, settings, cache) == path and rec.builds == 1
    # FP32 is another artefact; its build starts from the saved timing cache
    p32 = tb.build_engine(look, tb.BuildSettings(max_faces=3, precision="fp32"), cache)
    assert p32 != path and rec.builds == 2 and not rec.configs[-1].flags
    assert rec.timing_blobs_in[-1] == b"+timing"


def test_new_tensorrt_or_gpu_means_a_rebuild(look, rec, tmp_path, monkeypatch, trt_version):
    cache = EngineCache(tmp_path / "cache")
    first = tb.build_engine(look, tb.BuildSettings(), cache)
    newer = trt_version.split(".")[0] + ".7.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(rec, version=newer))
    second = tb.build_engine(look, tb.BuildSettings(), cache)
    monkeypatch.setattr(tb, "cuda_device", lambda: DeviceInfo("NVIDIA H100 80GB HBM3", "9.0", "560.35.03"))
    third = tb.build_engine(look, tb.BuildSettings(), cache)
    assert rec.builds == 3 and len({first, second, third}) == 3


def test_corrupt_engine_in_cache_is_rebuilt(look, rec, tmp_path):
    cache = EngineCache(tmp_path / "cache")
    path = tb.build_engine(look, tb.BuildSettings(), cache)
    path.write_bytes(b"garbage!" * 4)
    assert tb.build_engine(look, tb.BuildSettings(), cache) == path and rec.builds == 2
    assert path.read_bytes().startswith(b"ENGINE")


def test_unsupported_node_is_a_one_line_model_error(look, rec, tmp_path):
    rec.parse_ok = False
    with pytest.raises(ModelError) as e:
        tb.build_engine(look, tb.BuildSettings(), EngineCache(tmp_path / "cache"))
    msg = str(e.value)
    assert "\n" not in msg and "GridSample '/warp/GridSample'" in msg and "shift" in msg
    assert rec.builds == 0


def test_without_tensorrt_every_entry_point_says_how_to_install(look, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(BackendUnavailable, match=r"tensorrt: not installed — pip install 'livefilter\[gpu\]'"):
        tb.import_tensorrt()
    with pytest.raises(BackendUnavailable, match="tensorrt"):
        select.create_translator(look, backend="tensorrt")
