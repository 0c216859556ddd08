"""The engine cache: artefact + sidecar JSON per key; stale, foreign or corrupt entries are never used."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from livefilter.paths import engine_cache_dir

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
        """The artefact for exactly this key, or None (missing, stale, foreign or corrupt)."""
        artefact, sidecar = self._paths(key, suffix)
        if not artefact.is_file() or not sidecar.is_file():
            return None
        try:
            meta = json.loads(sidecar.read_text())
            stored = meta["key"]
            if not isinstance(stored, dict):
                raise ValueError("key is not an object")
        except (OSError, ValueError, KeyError) as e:
            log.warning("engine cache: unreadable sidecar %s (%s); rebuilding", sidecar.name, e)
            return None
        bad = key.mismatches(stored)
        if bad:
            log.warning("engine cache: %s was built for another %s; rebuilding", artefact.name, ", ".join(bad))
            return None
        if artefact.stat().st_size != meta.get("size") or _sha256(artefact) != meta.get("sha256"):
            log.warning("engine cache: %s is corrupt (size/sha256 mismatch); rebuilding", artefact.name)
            return None
        return artefact

    def store(self, key: CacheKey, data: bytes | Path, build_seconds: float, suffix: str = ".engine") -> Path:
        """Write the artefact and its sidecar atomically (a crash never leaves a half entry)."""
        self.root.mkdir(parents=True, exist_ok=True)
        artefact, sidecar = self._paths(key, suffix)
        tmp = artefact.with_name(artefact.name + ".tmp")
        if isinstance(data, Path):
            os.replace(data, tmp)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, artefact)
        meta = {"key": asdict(key), "size": artefact.stat().st_size, "sha256": _sha256(artefact),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "build_seconds": round(build_seconds, 3)}
        tmp_meta = sidecar.with_name(sidecar.name + ".tmp")
        tmp_meta.write_text(json.dumps(meta, indent=2))
        os.replace(tmp_meta, sidecar)
        return artefact

    def invalidate(self, key: CacheKey, suffix: str = ".engine") -> None:
        """Remove the entry for ``key`` (an artefact the library refused to load is never used again)."""
        for path in self._paths(key, suffix):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        log.warning("engine cache: dropped %s", self._paths(key, suffix)[0].name)

    def staging_path(self, key: CacheKey, suffix: str) -> Path:
        """A temporary path a builder may write to before :meth:`store` moves it into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self._paths(key, suffix)[0].with_name(f".building-{os.getpid()}-{key.digest()}{suffix}")

    def entries(self, current: dict[str, CacheKey] | None = None) -> list[CacheEntry]:
        """Everything in the cache, with validity against the artefact's own sidecar."""
        out = []
        if not self.root.is_dir():
            return out
        for sidecar in sorted(self.root.glob("*.json")):
            try:
                meta = json.loads(sidecar.read_text())
                key = meta["key"]
            except (OSError, ValueError, KeyError):
                continue
            artefact = next((p for p in sidecar.parent.glob(sidecar.stem + ".*") if p.suffix != ".json"), None)
            valid, reason = True, ""
            if artefact is None:
                valid, reason, size = False, "artefact missing", 0
            else:
                size = artefact.stat().st_size
                if size != meta.get("size") or _sha256(artefact) != meta.get("sha256"):
                    valid, reason = False, "corrupt"
            out.append(CacheEntry(key, artefact or sidecar, size, meta.get("built_at", ""),
                                  meta.get("build_seconds", 0.0), valid, reason))
        return out

    def clear(self) -> int:
        n = 0
        if self.root.is_dir():
            for p in self.root.iterdir():
                if p.is_file():
                    p.unlink()
                    n += 1
        return n
