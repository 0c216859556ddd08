"""What works on this machine, and how to fix what does not (`livefilter doctor`)."""

from __future__ import annotations

import glob
import importlib.util
import platform
from dataclasses import dataclass

from livefilter.sinks.virtualcam_sink import V4L2_HINT


@dataclass
class Check:
    area: str
    name: str
    ok: bool
    detail: str


def _has(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


def backend_checks() -> list[Check]:
    """One row per registered backend that has an availability probe (``translate/backends.py``)."""
    from livefilter.translate import backends

    return [Check("backend", spec.name, *spec.probe()) for spec in backends.specs() if spec.probe is not None]


def system_checks() -> list[Check]:
    from livefilter.engines.device_info import cuda_device
    from livefilter.engines.cache import EngineCache
    from livefilter.sinks.preview_sink import gui_available

    system = platform.system()
    checks = []
    gpu = cuda_device()
    checks.append(Check("gpu", "NVIDIA GPU", gpu is not None,
                        f"{gpu.name}, driver {gpu.driver}" if gpu else "none found (the CPU backend will be used)"))
    if _has("torchcodec"):
        checks.append(Check("gpu", "NVDEC decoding", gpu is not None,
                            "torchcodec installed: video files decode on the GPU with a CUDA pipeline (--decode)"
                            if gpu else "torchcodec installed, but no NVIDIA GPU"))
    else:
        checks.append(Check("gpu", "NVDEC decoding", False,
                            "optional — pip install 'livefilter[nvdec]' to decode video files on the GPU"))
    if system == "Linux":
        cams = sorted(glob.glob("/dev/video*"))
        checks.append(Check("camera", "video devices", bool(cams), ", ".join(cams) if cams else "no /dev/video* devices"))
        loaded = False
        try:
            with open("/proc/modules", encoding="utf-8") as f:
                loaded = any(line.startswith("v4l2loopback ") for line in f)
        except OSError:
            pass
        checks.append(Check("virtual camera", "v4l2loopback", loaded,
                            "module loaded" if loaded else f"not loaded — {V4L2_HINT}"))
    else:
        checks.append(Check("virtual camera", "OBS Virtual Camera", True,
                            "install OBS Studio and start its Virtual Camera once; use --output obs"))
    try:
        import pyvirtualcam  # noqa: F401

        checks.append(Check("virtual camera", "pyvirtualcam", True, "installed"))
    except Exception as e:  # a broken native extension
        checks.append(Check("virtual camera", "pyvirtualcam", False, f"cannot import ({e})"))
    checks.append(Check("preview", "OpenCV window", gui_available(),
                        "available" if gui_available() else
                        "headless OpenCV — for --output preview swap it for the desktop build (the two builds conflict, "
                        "install one, not both): pip uninstall -y opencv-python-headless && pip install opencv-python"))
    entries = EngineCache().entries()
    valid = sum(e.valid for e in entries)
    size = sum(e.size for e in entries) / 2**20
    checks.append(Check("engines", "engine cache", True,
                        f"{len(entries)} artefacts ({valid} valid, {size:.1f} MiB) in {EngineCache().root}"))
    return checks


def file_checks() -> list[Check]:
    """Where livefilter keeps its files (``LIVEFILTER_HOME`` moves them all under one folder)."""
    import os

    from livefilter.infra import paths

    home = os.environ.get("LIVEFILTER_HOME")
    rows = [Check("files", "LIVEFILTER_HOME", True, f"{home} (everything below is under it)" if home else
                  "not set (the platform's folders below; set it to keep everything in one folder)")]
    for name, path in (("settings", paths.user_config_path()), ("your looks", paths.user_looks_dir()),
                       ("profiles", paths.user_profiles_path()), ("engine cache", paths.engine_cache_dir()),
                       ("control file", paths.user_data_dir() / "control.json")):
        rows.append(Check("files", name, True, f"{path}" + ("" if path.exists() else " (not created yet)")))
    return rows


def run_checks() -> list[Check]:
    return backend_checks() + system_checks() + file_checks()
