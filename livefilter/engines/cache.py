"""The engine cache: artefact + sidecar JSON per key; stale, foreign or corrupt entries are never used.

The cache is only an optimisation. Any problem with it (an unreadable or malformed sidecar, an empty
or broken artefact, a full or read-only folder, ``engines`` being a file) is warned about once and the
look runs uncached; no cache problem ever stops a run, and no temporary file is left behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from livefilter.infra.paths import engine_cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheKey:
    onnx_sha256: str
    backend: str  # tensorrt | onnxruntime-cpu | onnxruntime-cuda | torch-cuda
    device: str  # GPU name, or the CPU model
    compute_capability: str
    driver: str
    library_version: str  # TensorRT / onnxruntime / torch version
    precision: str  # fp16 | fp32
    max_batch: int
    input_size: int
    # artefact generation within a library version: "trt10-strongly-typed" for TensorRT engines
    # (the major version and typing mode); empty for artefacts that have none
    format: str = ""

    def _fields(self) -> dict:
        """The key's fields; an empty ``format`` is left out, so keys made before it existed keep their digest."""
        d = asdict(self)
        if not d["format"]:
            del d["format"]
        return d

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self._fields(), sort_keys=True).encode()).hexdigest()[:24]

    def mismatches(self, other: dict) -> list[str]:
        """Fields where a stored key differs from this one."""
        mine = asdict(self)
        return [f.name for f in fields(self) if other.get(f.name, f.default) != mine[f.name]]


@dataclass
class CacheEntry:
    key: dict
    path: Path
    size: int
    built_at: str
    build_seconds: float
    valid: bool
    reason: str = ""


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(kind: str, message: str, *args) -> None:
    """One warning per kind of cache problem per process (then debug lines)."""
    with _warned_lock:
        first = kind not in _warned
        _warned.add(kind)
    (log.warning if first else log.debug)("engine cache: " + message, *args)


def _read_meta(sidecar: Path) -> dict:
    """A sidecar's JSON object with a ``key`` object; ValueError when it is anything else."""
    try:
        meta = json.loads(sidecar.read_text())
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 ({e.reason})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"a JSON {type(meta).__name__}, not an object")
    if not isinstance(meta.get("key"), dict):
        raise ValueError("no 'key' object")
    return meta


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class EngineCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else engine_cache_dir()

    def _paths(self, key: CacheKey, suffix: str) -> tuple[Path, Path]:
        stem = f"{key.backend}-{key.onnx_sha256[:12]}-{key.digest()}"
        return self.root / f"{stem}{suffix}", self.root / f"{stem}.json"

    def lookup(self, key: CacheKey, suffix: str = ".engine") -> Path | None:
        """The artefact for exactly this key, or None (missing, stale, foreign, corrupt or unreadable)."""
        artefact, sidecar = self._paths(key, suffix)
        try:
            if not artefact.is_file() or not sidecar.is_file():
                return None
            meta = _read_meta(sidecar)
        except (OSError, ValueError) as e:
            warn_once("sidecar", "unreadable sidecar %s (%s); running uncached", sidecar.name, e)
            return None
        bad = key.mismatches(meta["key"])
        if bad:
            log.warning("engine cache: %s was built for another %s; rebuilding", artefact.name, ", ".join(bad))
            return None
        try:
            size = artefact.stat().st_size
            if size == 0 or size != meta.get("size") or _sha256(artefact) != meta.get("sha256"):
                warn_once("corrupt", "%s is corrupt (empty, or size/sha256 mismatch); rebuilding", artefact.name)
                return None
        except OSError as e:
            warn_once("unreadable", "cannot read %s (%s); running uncached", artefact.name, e.strerror or e)
            return None
        return artefact

    def store(self, key: CacheKey, data: bytes | Path, build_seconds: float, suffix: str = ".engine") -> Path | None:
        """Write the artefact and its sidecar atomically (a crash never leaves a half entry).

        Returns None (after one warning) when the cache cannot be written: full, read-only, not a
        folder. A staging file passed as ``data`` is moved or removed either way."""
        artefact, sidecar = self._paths(key, suffix)
        tmp = artefact.with_name(f".{artefact.name}.{os.getpid()}.tmp")
        tmp_meta = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if isinstance(data, Path):
                os.replace(data, tmp)
            else:
                tmp.write_bytes(data)
            meta = {"key": asdict(key), "size": tmp.stat().st_size, "sha256": _sha256(tmp),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "build_seconds": round(build_seconds, 3)}
            tmp_meta.write_text(json.dumps(meta, indent=2))
            _discard(sidecar)  # never a new artefact under an old sidecar, even for a moment
            os.replace(tmp, artefact)
            os.replace(tmp_meta, sidecar)
        except OSError as e:
            warn_once("write", "cannot write to %s (%s); running uncached", self.root, e.strerror or e)
            for p in (tmp, tmp_meta) + ((data,) if isinstance(data, Path) else ()):
                _discard(p)
            return None
        return artefact

    def invalidate(self, key: CacheKey, suffix: str = ".engine") -> None:
        """Drop an entry that turned out unusable (best effort: a read-only cache keeps it)."""
        for p in self._paths(key, suffix):
            _discard(p)

    def staging_path(self, key: CacheKey, suffix: str) -> Path | None:
        """A temporary path a builder may write to before :meth:`store` moves it into place, or None
        when the cache folder cannot be written (the builder then runs uncached)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise PermissionError(13, "read-only")
        except OSError as e:
            warn_once("write", "cannot write to %s (%s); running uncached", self.root, e.strerror or e)
            return None
        return self._paths(key, suffix)[0].with_name(f".building-{os.getpid()}-{key.digest()}{suffix}")

    def entries(self, current: dict[str, CacheKey] | None = None) -> list[CacheEntry]:
        """Everything in the cache, with validity against the artefact's own sidecar (a malformed
        sidecar is listed as invalid, never a crash)."""
        out = []
        try:
            sidecars = sorted(self.root.glob("*.json")) if self.root.is_dir() else []
        except OSError:
            return out
        for sidecar in sidecars:
            try:
                meta = _read_meta(sidecar)
            except (OSError, ValueError) as e:
                out.append(CacheEntry({}, sidecar, 0, "", 0.0, False, f"bad sidecar ({e})"))
                continue
            artefact = next((p for p in sidecar.parent.glob(sidecar.stem + ".*") if p.suffix != ".json"), None)
            valid, reason, size = True, "", 0
            try:
                if artefact is None:
                    valid, reason = False, "artefact missing"
                else:
                    size = artefact.stat().st_size
                    if size == 0 or size != meta.get("size") or _sha256(artefact) != meta.get("sha256"):
                        valid, reason = False, "corrupt"
            except OSError as e:
                valid, reason = False, f"unreadable ({e.strerror or e})"
            built_at = meta.get("built_at", "")
            seconds = meta.get("build_seconds", 0.0)
            out.append(CacheEntry(meta["key"], artefact or sidecar, size, built_at if isinstance(built_at, str) else "",
                                  seconds if isinstance(seconds, (int, float)) else 0.0, valid, reason))
        return out

    def clear(self) -> int:
        n = 0
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.is_file():
                    p.unlink()
                    n += 1
        return n
