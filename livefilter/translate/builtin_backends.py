"""The built-in translator backends, in ``auto`` order (``backends.py`` registers them):
TensorRT FP16 -> torch CUDA FP16 -> onnxruntime CUDA -> onnxruntime CPU (then torch-cpu, never auto).

Each backend's factory, availability probe and build step; heavy imports stay inside the functions.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from livefilter.translate.backend_spec import BackendSpec, ExportOutcome, ExportRequest

NOT_CACHED = "not cached (the cache cannot be written)"
GPU_EXTRA = "pip install 'livefilter[gpu]'"

if TYPE_CHECKING:
    from livefilter.looks.pack import Look
    from livefilter.protocols import Translator


def _has(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


# -- TensorRT ------------------------------------------------------------------------------------
def _tensorrt(look: Look, max_faces: int, precision: str) -> Translator:
    from livefilter.translate.tensorrt_backend import TensorRTTranslator

    return TensorRTTranslator(look, max_faces=max_faces, precision=precision)


def _tensorrt_probe() -> tuple[bool, str]:
    from livefilter.engines.device_info import cuda_device

    if not _has("tensorrt"):
        return False, f"not installed — {GPU_EXTRA}"
    gpu = cuda_device()
    if gpu is None:
        return False, "installed, but no NVIDIA GPU/driver found"
    if not _has("cuda"):
        return False, f"cuda-python missing — {GPU_EXTRA}"
    return True, f"{gpu.name} (sm {gpu.compute_capability})"


def _tensorrt_export(look: Look, req: ExportRequest) -> ExportOutcome:
    from livefilter.engines.tensorrt_build import BuildSettings, build_engine, import_tensorrt, tensorrt_key

    trt = import_tensorrt()
    settings = BuildSettings(max_faces=req.max_faces, precision=req.precision)
    key = tensorrt_key(look, settings, trt.__version__)
    had = req.cache.lookup(key) is not None and not req.rebuild
    if req.rebuild:
        req.cache.invalidate(key)
    built = build_engine(look, settings, req.cache, req.progress)
    return ExportOutcome(had, str(built) if isinstance(built, Path) else NOT_CACHED)


# -- torch ---------------------------------------------------------------------------------------
def _torch_cuda(look: Look, max_faces: int, precision: str) -> Translator:
    from livefilter.translate.torch_backend import TorchCudaTranslator

    return TorchCudaTranslator(look, max_faces=max_faces, precision=precision)


def _torch_cpu(look: Look, max_faces: int, precision: str) -> Translator:
    from livefilter.translate.torch_backend import TorchCudaTranslator

    return TorchCudaTranslator(look, max_faces=max_faces, precision="fp32", device="cpu")


# PyTorch's CUDA wheel indexes and the oldest NVIDIA Linux driver each needs (CUDA's compatibility table)
TORCH_CUDA_WHEELS = (("cu128", (570, 26)), ("cu126", (560, 28)), ("cu124", (550, 54)), ("cu121", (530, 30)),
                     ("cu118", (520, 61)))


def torch_cuda_install(driver: str) -> str:
    """The pip command for the CUDA build of PyTorch that this NVIDIA driver runs ("" without a driver)."""
    try:
        have = tuple(int(x) for x in driver.split(".")[:2])
    except ValueError:
        return ""
    for tag, need in TORCH_CUDA_WHEELS:
        if have >= need:
            return f"pip install torch --index-url https://download.pytorch.org/whl/{tag}"
    return ""


def _torch_cuda_probe() -> tuple[bool, str]:
    from livefilter.engines.device_info import driver_version

    driver = driver_version()
    install = torch_cuda_install(driver)
    how = (f"{install} (the CUDA build for driver {driver})" if install else
           "an NVIDIA GPU with its driver first, then PyTorch's CUDA build" if not driver else
           f"a newer NVIDIA driver than {driver} for PyTorch's CUDA builds")
    if not _has("torch"):
        return False, f"PyTorch not installed — {how}"
    import torch

    ok = torch.cuda.is_available()
    if ok:
        return True, f"torch {torch.__version__}"
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is the CPU build — {how}"
    return False, f"torch {torch.__version__}, no CUDA device" + (f" — {how}" if not driver else "")


def _torch_cuda_export(look: Look, req: ExportRequest) -> ExportOutcome:
    _torch_cuda(look, req.max_faces, req.precision)
    return ExportOutcome(False, "graph built in memory (CUDA graphs are per process)")


# -- onnxruntime ---------------------------------------------------------------------------------
def _ort(device: str) -> Callable[["Look", int, str], "Translator"]:
    def make(look: Look, max_faces: int, precision: str) -> Translator:
        from livefilter.engines.cache import EngineCache
        from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator

        return OnnxRuntimeTranslator(look, device=device, max_batch=max_faces, cache=EngineCache())

    return make


def _ort_probe(device: str) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        import onnxruntime as ort

        providers = ort.get_available_providers()
        if device == "cpu":
            return "CPUExecutionProvider" in providers, f"onnxruntime {ort.__version__}"
        ok = "CUDAExecutionProvider" in providers
        return ok, f"onnxruntime {ort.__version__}" + ("" if ok else " has no CUDA provider — pip install onnxruntime-gpu")

    return probe


def _ort_export(device: str) -> Callable[["Look", ExportRequest], ExportOutcome]:
    def export(look: Look, req: ExportRequest) -> ExportOutcome:
        from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator, ort_cache_key

        key = ort_cache_key(look, device, req.max_faces)
        if req.rebuild:
            req.cache.invalidate(key, ".ort.onnx")
        t = OnnxRuntimeTranslator(look, device=device, max_batch=req.max_faces, cache=req.cache)
        return ExportOutcome(t.cache_hit, str(req.cache.lookup(key, suffix=".ort.onnx") or NOT_CACHED))

    return export


BUILTIN_BACKENDS = (
    BackendSpec("tensorrt", _tensorrt, device="cuda", needs_gpu=True, in_auto=True,
                probe=_tensorrt_probe, export=_tensorrt_export, export_by_default=True),
    BackendSpec("torch-cuda", _torch_cuda, device="cuda", needs_gpu=True,
                in_auto=True, probe=_torch_cuda_probe, export=_torch_cuda_export),
    BackendSpec("onnxruntime-cuda", _ort("cuda"), needs_gpu=True, in_auto=True,
                probe=_ort_probe("cuda"), export=_ort_export("cuda"), export_by_default=True),
    BackendSpec("onnxruntime-cpu", _ort("cpu"), in_auto=True,
                probe=_ort_probe("cpu"), export=_ort_export("cpu"), export_by_default=True),
    # the device pipeline run on the CPU device (never picked by auto; for checking that path, and its
    # stage costs, on a machine without a GPU)
    BackendSpec("torch-cpu", _torch_cpu, device="cpu",
                note="the GPU pipeline on the CPU, for checking"),
)
