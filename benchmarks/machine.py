"""Machine, GPU, driver and library versions recorded with every benchmark result."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> dict:
    try:
        q = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )
        if q.returncode == 0 and q.stdout.strip():
            name, driver, mem, cc = [x.strip() for x in q.stdout.strip().splitlines()[0].split(",")]
            return {"name": name, "driver": driver, "memory": mem, "compute_capability": cc}
    except (OSError, subprocess.SubprocessError):
        pass
    return {}


def machine_info() -> dict:
    libs = {p: _version(p) for p in ("livefilter", "numpy", "opencv-python-headless", "onnxruntime",
                                      "onnxruntime-gpu", "av", "torch", "tensorrt")}
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu_info(),
        "libraries": {k: v for k, v in libs.items() if v},
    }


def device_slug(info: dict) -> str:
    """A file-name-safe name for the device the results were measured on."""
    gpu = info.get("gpu", {}).get("name")
    base = gpu if gpu else f"cpu-{info.get('cpu_count')}core-{info.get('cpu', 'unknown')}"
    return "".join(c.lower() if c.isalnum() else "-" for c in base).strip("-")[:60]
