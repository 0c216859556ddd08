"""What the cache key needs to know about this machine's accelerator (or CPU)."""

from __future__ import annotations

import functools
import platform
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    compute_capability: str  # "9.0" on an H100; "cpu" on the CPU
    driver: str  # NVIDIA driver version; "" on the CPU


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_device() -> DeviceInfo:
    return DeviceInfo(_cpu_name(), "cpu", "")


@functools.lru_cache(maxsize=1)
def cuda_device() -> DeviceInfo | None:
    """GPU 0 via nvidia-smi (no CUDA context is created); None without an NVIDIA driver."""
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0 or not r.stdout.strip():
        return None
    name, cc, driver = (x.strip() for x in r.stdout.strip().splitlines()[0].split(","))
    return DeviceInfo(name, cc, driver)
