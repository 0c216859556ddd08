"""Build a TensorRT engine from a look's ONNX (TensorRT 10.x and 11.x Python APIs).

Both versions build a *strongly typed* network: the precision is the ONNX graph's own (an FP16
engine comes from the student converted to FP16 with FP32 I/O, :mod:`livefilter.engines.fp16`).
TensorRT 11 removed weak typing (``BuilderFlag.FP16``, ``platform_has_fast_fp16``), and networks
are always strongly typed there; TensorRT 10 gets the ``STRONGLY_TYPED`` creation flag. The
engine cache key carries the TensorRT major version and the typing mode (``format``).

Pure helpers (profile shapes, cache key, parser-error mapping, API profile) are importable
without TensorRT; ``build_engine`` imports it lazily.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from livefilter.infra.atomic import write_bytes
from livefilter.engines.build_progress import BuildProgressBar
from livefilter.engines.cache import CacheKey, EngineCache, warn_once
from livefilter.engines.device_info import cuda_device
from livefilter.engines.fp16 import fp16_onnx_bytes
from livefilter.errors import BackendUnavailable, LivefilterError, ModelError, SettingError
from livefilter.looks.pack import Look, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildSettings:
    max_faces: int = 4
    precision: str = "fp16"
    optimization_level: int = 3  # TensorRT builder_optimization_level 0..5
    workspace_mb: int = 1024

    def validate(self) -> "BuildSettings":
        if not 1 <= self.max_faces <= 64:
            raise SettingError(f"max faces must be 1..64, got {self.max_faces}")
        if self.precision not in ("fp16", "fp32"):
            raise SettingError(f"precision must be fp16 or fp32, got {self.precision!r}")
        if not 0 <= self.optimization_level <= 5:
            raise SettingError(f"optimisation level must be 0..5, got {self.optimization_level}")
        if not 64 <= self.workspace_mb <= 65536:
            raise SettingError(f"workspace must be 64..65536 MiB, got {self.workspace_mb}")
        return self


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailable("tensorrt: not installed — pip install 'livefilter[gpu]'") from None
    return trt


def tensorrt_major(version: str) -> int:
    """The major version of a TensorRT version string ("10.3.0" -> 10)."""
    try:
        return int(str(version).split(".", 1)[0])
    except ValueError:
        raise BackendUnavailable(f"tensorrt: cannot read its version {version!r}") from None


@dataclass(frozen=True)
class TensorRTApi:
    """What differs between the TensorRT majors this module builds with."""

    major: int
    network_flags: Callable  # trt module -> the create_network() flags of a strongly typed network

    @property
    def cache_format(self) -> str:
        return f"trt{self.major}-strongly-typed"


def _strongly_typed_flag(trt) -> int:
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


# 10.x: strong typing is a creation flag (explicit batch is implied). 11.x: always strongly typed,
# the weak-typing API (BuilderFlag.FP16 & co.) is gone.
TENSORRT_APIS = {10: TensorRTApi(10, _strongly_typed_flag), 11: TensorRTApi(11, lambda trt: 0)}


def tensorrt_api(version: str) -> TensorRTApi:
    major = tensorrt_major(version)
    if major < min(TENSORRT_APIS):
        raise BackendUnavailable(f"tensorrt {version}: TensorRT 10 or newer is needed — pip install 'livefilter[gpu]'")
    if major not in TENSORRT_APIS:
        log.info("tensorrt %s: newer than this build knows; building as for TensorRT %d", version, max(TENSORRT_APIS))
        return TensorRTApi(major, TENSORRT_APIS[max(TENSORRT_APIS)].network_flags)
    return TENSORRT_APIS[major]


def profile_shapes(look: Look, max_faces: int) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) per input: batch 1..max_faces with opt = 1 (one face is the common case)."""
    s = look.input_size
    shapes = {look.input_names["image"]: ((1, 3, s, s), (1, 3, s, s), (max_faces, 3, s, s))}
    if look.input_names.get("style"):
        k = len(look.style_code or [])
        shapes[look.input_names["style"]] = ((1, k), (1, k), (max_faces, k))
    if look.input_names.get("strength"):
        shapes[look.input_names["strength"]] = ((1, 1), (1, 1), (max_faces, 1))
    return shapes


def tensorrt_key(look: Look, settings: BuildSettings, trt_version: str) -> CacheKey:
    dev = cuda_device()
    if dev is None:
        raise BackendUnavailable("tensorrt: no NVIDIA GPU / driver found")
    return CacheKey(
        onnx_sha256=look.onnx_sha256 or sha256_file(look.model_path), backend="tensorrt", device=dev.name,
        compute_capability=dev.compute_capability, driver=dev.driver, library_version=trt_version,
        precision=settings.precision, max_batch=settings.max_faces, input_size=look.input_size,
        format=tensorrt_api(trt_version).cache_format,
    )


def parser_errors(parser) -> str:
    """One line naming every node the ONNX parser rejected (works for TensorRT 8.6-10.x error objects)."""
    parts = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        desc = err.desc() if callable(getattr(err, "desc", None)) else str(err)
        node = err.node_name() if callable(getattr(err, "node_name", None)) else ""
        op = err.node_operator() if callable(getattr(err, "node_operator", None)) else ""
        where = f"{op} '{node}'" if node or op else f"node #{err.node()}" if callable(getattr(err, "node", None)) else ""
        parts.append(f"{where}: {desc}".strip(": "))
    return "; ".join(parts) or "unknown parser error"


def timing_cache_path(cache: EngineCache, key: CacheKey) -> Path:
    """One timing cache per GPU + TensorRT version, shared by every look (it speeds up every build)."""
    safe = "".join(c if c.isalnum() else "-" for c in f"{key.device}-{key.compute_capability}-{key.library_version}")
    return cache.root / f"timing-{safe}.cache"


def network_onnx(look: Look, precision: str) -> bytes:
    """The graph the strongly typed network is parsed from: FP16 (FP32 I/O) or the look's FP32 ONNX."""
    if precision == "fp16":
        return fp16_onnx_bytes(Path(look.model_path))
    return Path(look.model_path).read_bytes()


def build_engine(look: Look, settings: BuildSettings, cache: EngineCache | None = None, progress=None,
                 *, show_bar: bool = True) -> Path | bytes:
    """Return the cached engine for this look/GPU/settings, building it when missing or stale (the
    serialised engine itself when the cache cannot be written: the run goes on uncached).

    ``progress`` receives one line before a build; ``show_bar`` draws TensorRT's build phases as a
    progress bar on the terminal (an engine build takes tens of seconds on the first run).
    """
    trt = import_tensorrt()
    settings = settings.validate()
    cache = cache or EngineCache()
    key = tensorrt_key(look, settings, trt.__version__)
    hit = cache.lookup(key)
    if hit is not None:
        return hit
    api = tensorrt_api(trt.__version__)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(api.network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(network_onnx(look, settings.precision)):
        raise ModelError(f"look '{look.name}': TensorRT cannot parse the ONNX: {parser_errors(parser)}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_mb << 20)
    config.builder_optimization_level = settings.optimization_level
    profile = builder.create_optimization_profile()
    for name, (mn, opt, mx) in profile_shapes(look, settings.max_faces).items():
        profile.set_shape(name, mn, opt, mx)
    config.add_optimization_profile(profile)
    tc_path = timing_cache_path(cache, key)
    timing = config.create_timing_cache(tc_path.read_bytes() if tc_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    message = f"building TensorRT {settings.precision} engine for {key.device} (first run on this GPU)"
    if progress:
        progress(message)
    log.info("%s", message)
    t0 = time.perf_counter()
    with BuildProgressBar(trt, message, enabled=show_bar) as bar:
        if bar.monitor is not None:
            config.progress_monitor = bar.monitor
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"look '{look.name}': TensorRT engine build failed (see the log above)")
    elapsed = time.perf_counter() - t0
    try:
        tc_path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(tc_path, bytes(memoryview(config.get_timing_cache().serialize())))
    except (OSError, LivefilterError) as e:  # the timing cache only speeds up the next build
        warn_once("write", "timing cache not saved (%s)", e)
    engine = bytes(memoryview(serialized))
    path = cache.store(key, engine, elapsed)
    log.info("built %s in %.1f s", path.name if path else "an uncached engine", elapsed)
    return path if path is not None else engine
