"""Finding, installing and removing looks (packaged looks + the user's looks directory)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

from livefilter.atomic import atomic_output, check_distinct
from livefilter.errors import LookError
from livefilter.looks.pack import (
    MAX_MANIFEST_BYTES,
    MAX_MODEL_BYTES,
    MAX_PREVIEW_BYTES,
    Look,
    check_member_path,
    load_look,
)
from livefilter.paths import PACKAGED_LOOKS_DIR, user_looks_dir

log = logging.getLogger(__name__)

MAX_PACK_MEMBERS = 16
MAX_PACK_BYTES = MAX_MODEL_BYTES + MAX_PREVIEW_BYTES + MAX_MANIFEST_BYTES
DEFAULT_LOOK = "glam"


class LookRegistry:
    """Looks by name. User looks shadow packaged looks of the same name."""

    def __init__(self, dirs: list[Path] | None = None) -> None:
        self.dirs = dirs if dirs is not None else [PACKAGED_LOOKS_DIR, user_looks_dir()]

    def _candidates(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for d in self.dirs:
            if not d.is_dir():
                continue
            for sub in sorted(d.iterdir()):
                if (sub / "look.json").is_file():
                    found[sub.name] = sub
        return found

    def names(self) -> list[str]:
        return sorted(self._candidates())

    def list(self) -> list[Look]:
        """Every valid look; invalid ones are logged and skipped."""
        looks = []
        for name, path in sorted(self._candidates().items()):
            try:
                looks.append(load_look(path, check_model=False))
            except LookError as e:
                log.warning("skipping look %s: %s", name, e)
        return looks

    def get(self, name_or_path: str) -> Look:
        """A look by name, or by a folder / .lfpack path."""
        p = Path(name_or_path)
        if p.suffix == ".lfpack" and p.is_file():
            return self.install(p, replace=True)
        if p.is_dir() and (p / "look.json").is_file():
            return load_look(p)
        found = self._candidates()
        if name_or_path not in found:
            avail = ", ".join(sorted(found)) or "none installed"
            raise LookError(f"unknown look '{name_or_path}' (available: {avail})")
        return load_look(found[name_or_path])

    def default(self) -> Look:
        names = self.names()
        if not names:
            raise LookError("no looks are installed; reinstall livefilter or `livefilter looks install PACK`")
        return self.get(DEFAULT_LOOK if DEFAULT_LOOK in names else names[0])

    def install(self, pack: Path, *, replace: bool = False) -> Look:
        """Validate a ``.lfpack`` zip or a look folder and copy it into the user looks directory."""
        target_root = user_looks_dir()
        target_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target_root, prefix=".install-") as tmp:
            staging = Path(tmp) / "look"
            if Path(pack).is_dir():
                shutil.copytree(pack, staging, symlinks=False)
            else:
                extract_pack(Path(pack), staging)
            look = load_look(staging)
            dest = target_root / look.name
            if dest.exists():
                if not replace:
                    raise LookError(f"look '{look.name}' is already installed (use --replace)")
                shutil.rmtree(dest)
            staging.rename(dest)
        log.info("installed look %s into %s", look.name, dest)
        return load_look(dest)

    def remove(self, name: str) -> Path:
        dest = user_looks_dir() / name
        if not (dest / "look.json").is_file():
            if (PACKAGED_LOOKS_DIR / name).is_dir():
                raise LookError(f"look '{name}' ships with livefilter and cannot be removed")
            raise LookError(f"look '{name}' is not installed in {user_looks_dir()}")
        shutil.rmtree(dest)
        return dest


def extract_pack(pack: Path, dest: Path) -> None:
    """Extract a look zip safely: no path traversal, no links, bounded member count and sizes."""
    if not pack.is_file():
        raise LookError(f"look pack {pack} does not exist")
    try:
        zf = zipfile.ZipFile(pack)
    except (zipfile.BadZipFile, OSError) as e:
        raise LookError(f"{pack} is not a valid look pack ({e})") from None
    with zf:
        if any(not m.filename for m in zf.infolist()):
            raise LookError(f"{pack}: a member has an empty name")
        members = [m for m in zf.infolist() if not m.is_dir()]
        if not members:
            raise LookError(f"{pack} is empty")
        if len(members) > MAX_PACK_MEMBERS:
            raise LookError(f"{pack} has {len(members)} files (at most {MAX_PACK_MEMBERS})")
        names = [check_member_path(m.filename) for m in members]
        if len({n.as_posix().lower() for n in names}) != len(names):
            raise LookError(f"{pack}: duplicate file names")
        as_dirs = {parent.as_posix().lower() for n in names for parent in n.parents}
        if any(n.as_posix().lower() in as_dirs for n in names):
            raise LookError(f"{pack}: a file name is also used as a folder")
        # A pack may hold its files at the top level or inside one folder.
        prefix = names[0].parts[0] if all(len(n.parts) > 1 and n.parts[0] == names[0].parts[0] for n in names) else None
        total = 0
        for m, rel in zip(members, names):
            if (m.external_attr >> 16) & 0o170000 == 0o120000:
                raise LookError(f"{pack}: symbolic link {m.filename!r} is not allowed")
            limit = MAX_MODEL_BYTES if rel.suffix == ".onnx" else MAX_PREVIEW_BYTES
            if m.file_size > limit:
                raise LookError(f"{pack}: {m.filename} is too large ({m.file_size} bytes)")
            total += m.file_size
            if total > MAX_PACK_BYTES:
                raise LookError(f"{pack}: contents exceed {MAX_PACK_BYTES >> 20} MiB")
        dest.mkdir(parents=True)
        for m, rel in zip(members, names):
            parts = rel.parts[1:] if prefix else rel.parts
            out = dest.joinpath(*parts)
            if dest.resolve() not in out.resolve().parents:
                raise LookError(f"path escapes the look pack: {m.filename!r}")
            out.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(m) as src, open(out, "wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > m.file_size:  # a lying header: stop a zip bomb early
                        raise LookError(f"{pack}: {m.filename} is larger than its header says")
                    dst.write(chunk)


def make_pack(look_dir: Path, out: Path, *, overwrite: bool = False) -> Path:
    """Zip a look folder into a ``.lfpack`` (written to a temporary file, renamed when complete; an
    existing file is replaced only with ``overwrite``)."""
    look = load_look(look_dir)
    out = Path(out)
    files = [f for f in sorted(Path(look_dir).iterdir()) if f.is_file() and not f.is_symlink()]
    check_distinct(out, *files)
    with atomic_output(out, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f"{look.name}/{f.name}")
    return out.expanduser()
