"""Build, refresh and list this machine's engine artefacts per look and backend (what `livefilter export`
runs; the command itself is ``livefilter/cli/export_cmd.py``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from livefilter.engines.cache import EngineCache
from livefilter.errors import BackendUnavailable, LivefilterError
from livefilter.looks.pack import Look

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    look: str
    backend: str
    status: str  # built | cached | unavailable | failed
    detail: str
    seconds: float


def export_look(look: Look, backend: str, *, max_faces: int, precision: str, rebuild: bool,
                cache: EngineCache, progress=None) -> ExportResult:
    """Build (or confirm) the artefact ``backend`` needs for ``look`` on this machine (its registry
    build step, ``translate/backends.py``)."""
    from livefilter.translate import backends

    t0 = time.perf_counter()
    spec = backends.get(backend)
    try:
        if spec is None or spec.export is None:
            raise LivefilterError(f"unknown backend {backend!r}" if spec is None else f"{backend} has nothing to build")
        outcome = spec.export(look, backends.ExportRequest(max_faces, precision, rebuild, cache, progress))
    except BackendUnavailable as e:
        return ExportResult(look.name, backend, "unavailable", str(e), time.perf_counter() - t0)
    except LivefilterError as e:
        return ExportResult(look.name, backend, "failed", str(e), time.perf_counter() - t0)
    return ExportResult(look.name, backend, "cached" if outcome.cached else "built", outcome.detail,
                        time.perf_counter() - t0)


@dataclass
class CacheRow:
    look: str
    backend: str
    device: str
    precision: str
    profile: str
    size: int
    built_at: str
    state: str  # valid | stale (...) | foreign (...) | orphan | corrupt | artefact missing

    @property
    def usable(self) -> bool:
        return self.state == "valid"


def _current_machine(backend: str) -> tuple[tuple[str, str, str] | None, str | None]:
    """(device fields, library version) an artefact for ``backend`` must have to be used here."""
    import importlib.metadata

    from livefilter.engines.device_info import cpu_device, cuda_device

    if backend.startswith("onnxruntime"):
        import onnxruntime as ort

        dev = (cuda_device() if backend == "onnxruntime-cuda" else None) or cpu_device()
        version: str | None = ort.__version__
    else:
        dev = cuda_device()
        try:
            version = importlib.metadata.version("tensorrt" if backend == "tensorrt" else "torch")
        except importlib.metadata.PackageNotFoundError:
            version = None
    return ((dev.name, dev.compute_capability, dev.driver) if dev else None), version


def cache_rows(cache: EngineCache, looks: list[Look]) -> list[CacheRow]:
    """Every cache entry with its look name(s) and whether this machine would use it, and why not."""
    from livefilter.looks.pack import sha256_file

    names: dict[str, list[str]] = {}
    for lk in looks:
        try:
            sha = lk.onnx_sha256 or sha256_file(lk.model_path)
        except OSError:
            continue
        names.setdefault(sha, []).append(lk.name)
    machines: dict[str, tuple] = {}
    rows = []
    for e in cache.entries():
        k = e.key
        backend = str(k.get("backend", "?"))
        if backend not in machines:
            machines[backend] = _current_machine(backend)
        device, version = machines[backend]
        stored_device = (k.get("device"), k.get("compute_capability"), k.get("driver"))
        if not e.valid:
            state = e.reason or "invalid"
        elif device is None:
            state = "foreign (no such device here)"
        elif stored_device[:2] != device[:2]:
            state = f"foreign (built for {k.get('device')})"
        elif stored_device[2] != device[2]:
            state = f"stale (driver {k.get('driver')} -> {device[2]})"
        elif version is None:
            state = f"stale ({backend.split('-')[0]} not installed)"
        elif k.get("library_version") != version:
            state = f"stale (library {k.get('library_version')} -> {version})"
        elif k.get("onnx_sha256") not in names:
            state = "orphan (no installed look has this ONNX)"
        else:
            state = "valid"
        rows.append(CacheRow(", ".join(names.get(k.get("onnx_sha256", ""), ["?"])), backend, str(k.get("device", "?")),
                             str(k.get("precision", "?")), f"b1-{k.get('max_batch')} {k.get('input_size')}px",
                             e.size, e.built_at, state))
    return rows
