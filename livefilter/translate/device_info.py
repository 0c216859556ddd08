"""Which machine are we on: CPU model / NVIDIA GPU name, compute capability and driver version.

Used for the engine-cache key (a per-machine artefact is only valid on the device it was built for)
and by ``livefilter doctor``. Nothing here needs torch, TensorRT or a GPU: the GPU is found through
``nvidia-smi`` (ships with every NVIDIA driver) and, failing that, through cuda-python.
"""

from __future__ import annotations

import functools
import logging
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# CPU features that change which kernels onnxruntime's optimiser picks (NCHWc blocking, VNNI, AMX).
_ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "fma", "neon", "asimd")


@dataclass(frozen=True)
class DeviceIdentity:
    """The device part of a cache key. For a CPU, ``compute_capability`` holds arch + ISA flags."""

    kind: str  # "cuda" | "cpu"
    name: str
    compute_capability: str
    driver_version: str

    def describe(self) -> str:
        if self.kind == "cpu":
            return f"{self.name} ({self.compute_capability})"
        return f"{self.name} (sm {self.compute_capability}, driver {self.driver_version})"


def _cpu_model_linux(text: str) -> tuple[str | None, set[str]]:
    name, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "processor") and name is None and not value.strip().isdigit():
            name = value.strip() or None
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return name, flags


@functools.lru_cache(maxsize=1)
def cpu_identity() -> DeviceIdentity:
    name, flags = None, set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        try:
            name, flags = _cpu_model_linux(cpuinfo.read_text(errors="replace"))
        except OSError:
            pass
    if name is None and platform.system() == "Darwin":
        try:
            name = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            pass
    name = re.sub(r"\s+", " ", name or platform.processor() or platform.machine() or "unknown CPU")
    isa = "+".join(f for f in _ISA_FLAGS if f in flags)
    arch = platform.machine() or "unknown"
    return DeviceIdentity("cpu", name, f"{arch}{'+' + isa if isa else ''}", "n/a")


def parse_nvidia_smi(text: str) -> list[DeviceIdentity]:
    """Rows of ``nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader``."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0]:
            gpus.append(DeviceIdentity("cuda", parts[0], parts[1], parts[2]))
    return gpus


def _from_nvidia_smi() -> list[DeviceIdentity]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        res = subprocess.run([exe, "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        log.debug("nvidia-smi failed: %s", e)
        return []
    return parse_nvidia_smi(res.stdout) if res.returncode == 0 else []


def _from_cuda_python() -> list[DeviceIdentity]:
    try:
        from livefilter.translate import cuda_mem

        return cuda_mem.list_devices()
    except Exception as e:  # not installed, no driver, no device: all mean "no GPU via this route"
        log.debug("cuda-python device query failed: %s", e)
        return []


@functools.lru_cache(maxsize=1)
def cuda_devices() -> tuple[DeviceIdentity, ...]:
    """Every NVIDIA GPU the driver reports (empty without a GPU or driver)."""
    return tuple(_from_nvidia_smi() or _from_cuda_python())


def cuda_identity(index: int = 0) -> DeviceIdentity | None:
    devs = cuda_devices()
    return devs[index] if index < len(devs) else None


def identity_for(backend: str) -> DeviceIdentity | None:
    """The device a backend runs on: the GPU for CUDA backends, the CPU otherwise."""
    if backend in ("tensorrt", "torch-cuda", "onnxruntime-cuda"):
        return cuda_identity()
    return cpu_identity()
