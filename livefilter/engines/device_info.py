"""What the cache key needs to know about this machine's accelerator (or CPU).

The GPU is the one the CUDA runtime actually uses in this process (its current device, after
``CUDA_VISIBLE_DEVICES``), asked through torch or cuda-python, whichever is installed: an engine
built for one GPU of a mixed machine must not be loaded on another. Only when neither can answer
does ``nvidia-smi`` name it, choosing the row ``CUDA_VISIBLE_DEVICES`` points at.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class _RuntimeDevice:
    name: str
    compute_capability: str
    uuid: str  # "GPU-xxxxxxxx-..." as nvidia-smi and CUDA_VISIBLE_DEVICES spell it; "" when unknown


def _uuid_text(raw) -> str:
    """``GPU-8-4-4-4-12`` hex from the runtime's 16 uuid bytes (torch gives it as text already)."""
    if isinstance(raw, str):
        return raw if raw.startswith("GPU-") or not raw else f"GPU-{raw}"
    b = bytes(raw)[:16]
    if len(b) != 16:
        return ""
    h = b.hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _torch_device() -> _RuntimeDevice | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return _RuntimeDevice(props.name, f"{props.major}.{props.minor}", _uuid_text(getattr(props, "uuid", "")))


def _cuda_python_device() -> _RuntimeDevice | None:
    try:
        from livefilter.gpu.cuda_mem import check, cudart

        rt = cudart()
        dev = check(rt.cudaGetDevice())
        props = check(rt.cudaGetDeviceProperties(dev))
    except Exception:  # not installed, no driver, no device
        return None
    name = props.name.split(b"\0", 1)[0].decode() if isinstance(props.name, bytes) else str(props.name)
    uuid = getattr(props.uuid, "bytes", props.uuid)
    return _RuntimeDevice(name, f"{props.major}.{props.minor}", _uuid_text(uuid))


def driver_version() -> str:
    """The NVIDIA kernel driver's version ("560.35.03"), from /proc, else nvidia-smi; "" without one."""
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as f:
            m = re.search(r"Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]+)", f.read())
            if m:
                return m.group(1)
    except OSError:
        pass
    rows = _smi_rows()
    return rows[0][3] if rows else ""


def _smi_rows() -> list[tuple[str, str, str, str]]:
    """(uuid, name, compute capability, driver) per GPU, in nvidia-smi's order."""
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=uuid,name,compute_cap,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    if r.returncode != 0:
        return []
    rows = []
    for line in r.stdout.strip().splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) == 4:
            rows.append((parts[0], parts[1], parts[2], parts[3]))
    return rows


def visible_row(rows: list[tuple[str, str, str, str]], visible: str | None):
    """The nvidia-smi row of CUDA device 0 under ``CUDA_VISIBLE_DEVICES`` (an index or a UUID
    prefix first in the list); None when it hides every GPU or names none that exists."""
    if visible is None:
        return rows[0] if rows else None
    first = visible.split(",")[0].strip()
    if not first or first.startswith("-"):
        return None
    if first.isdigit():
        i = int(first)
        return rows[i] if i < len(rows) else None
    return next((r for r in rows if r[0].startswith(first) or r[0].startswith("GPU-" + first)), None)


def runtime_device() -> _RuntimeDevice | None:
    """The CUDA runtime's current device in this process (torch first, then cuda-python)."""
    return _torch_device() or _cuda_python_device()


@functools.lru_cache(maxsize=1)
def cuda_device() -> DeviceInfo | None:
    """The GPU this process computes on; None without an NVIDIA driver or a visible GPU."""
    dev = runtime_device()
    if dev is not None:
        return DeviceInfo(dev.name, dev.compute_capability, driver_version())
    row = visible_row(_smi_rows(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    if row is None:
        return None
    return DeviceInfo(row[1], row[2], row[3])
