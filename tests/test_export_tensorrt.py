"""The TensorRT build flow against a recording stand-in for the ``tensorrt`` module (TensorRT itself
cannot be installed on CPU CI): FP16 flag, 1..N profile, workspace, optimisation level, timing cache
reuse, cache hit on the second run, parse failures as one-line ModelErrors, and the not-installed path."""

import sys
import types

import pytest

from livefilter.engines import tensorrt_build as tb
from livefilter.engines.cache import EngineCache
from livefilter.engines.device_info import DeviceInfo
from livefilter.errors import BackendUnavailable, ModelError
from livefilter.translate import select
from onnx_looks import make_look

GPU = DeviceInfo("NVIDIA GeForce RTX 4090", "8.9", "560.35.03")


class Recorder:
    def __init__(self):
        self.builds, self.timing_blobs_in, self.configs = 0, [], []
        self.parse_ok = True


def fake_tensorrt(rec: Recorder, version: str = "10.3.0") -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version

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
            assert data[:2] == b"\x08\x08"  # the look's real ONNX bytes (ir_version 8)
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

    class Config:
        def __init__(self):
            self.flags, self.pools, self.profiles = set(), {}, []
            self.builder_optimization_level = None
            self.timing = None

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

    class Builder:
        platform_has_fast_fp16 = True

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            assert flags == 0  # TensorRT 10: explicit batch is the only mode
            return object()

        def create_builder_config(self):
            c = Config()
            rec.configs.append(c)
            return c

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            rec.builds += 1
            return b"ENGINE" + bytes(str(sorted(config.flags)), "ascii")

    trt.Logger, trt.Builder, trt.OnnxParser = Logger, Builder, Parser
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
    trt.BuilderFlag = types.SimpleNamespace(FP16="FP16")
    return trt


@pytest.fixture
def look(tmp_path):
    return make_look(tmp_path / "looks", "shift", kind="shift", size=64, with_style=True, with_strength=True)


@pytest.fixture
def rec(monkeypatch):
    r = Recorder()
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(r))
    monkeypatch.setattr(tb, "cuda_device", lambda: GPU)
    return r


def test_build_sets_fp16_profile_workspace_level_and_reuses_timing_cache(look, rec, tmp_path):
    cache = EngineCache(tmp_path / "cache")
    settings = tb.BuildSettings(max_faces=3, precision="fp16", optimization_level=4, workspace_mb=512)
    path = tb.build_engine(look, settings, cache)
    assert rec.builds == 1 and path.read_bytes().startswith(b"ENGINE")
    cfg = rec.configs[0]
    assert "FP16" in cfg.flags and cfg.pools["WORKSPACE"] == 512 << 20 and cfg.builder_optimization_level == 4
    (profile,) = cfg.profiles
    assert profile.shapes["image"] == ((1, 3, 64, 64), (1, 3, 64, 64), (3, 3, 64, 64))
    assert profile.shapes["style"] == ((1, 4), (1, 4), (3, 4)) and profile.shapes["strength"][2] == (3, 1)
    timing = tb.timing_cache_path(cache, tb.tensorrt_key(look, settings, "10.3.0"))
    assert timing.read_bytes() == b"+timing" and rec.timing_blobs_in == [b""]
    # same look, same GPU: a cache hit, nothing is built
    assert tb.build_engine(look, settings, cache) == path and rec.builds == 1
    # FP32 is another artefact; its build starts from the saved timing cache
    p32 = tb.build_engine(look, tb.BuildSettings(max_faces=3, precision="fp32"), cache)
    assert p32 != path and rec.builds == 2 and "FP16" not in rec.configs[-1].flags
    assert rec.timing_blobs_in[-1] == b"+timing"


def test_new_tensorrt_or_gpu_means_a_rebuild(look, rec, tmp_path, monkeypatch):
    cache = EngineCache(tmp_path / "cache")
    first = tb.build_engine(look, tb.BuildSettings(), cache)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(rec, version="10.7.0"))
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
