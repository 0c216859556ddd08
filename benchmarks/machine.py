"""Machine, GPU, driver and library versions recorded with every benchmark result."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from livefilter.engines.device_info import cpu_device, cuda_device


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    return cpu_device().name


def gpu_info() -> dict:
    dev = cuda_device()
    if dev is None:
        return {}
    return {"name": dev.name, "driver": dev.driver, "compute_capability": dev.compute_capability}


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
