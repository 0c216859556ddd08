"""Finding, installing and removing looks (packaged looks + the user's looks directory)."""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from livefilter.errors import LookError
from livefilter.looks.pack import NAME_RE, Look, check_look_name, load_look
from livefilter.looks.pack_files import (  # noqa: F401  (re-exported: the pack tools live beside the registry)
    MAX_PACK_BYTES,
    MAX_PACK_MEMBERS,
    copy_look_folder,
    extract_pack,
    make_pack,
    same_files,
)
from livefilter.looks.schema import shown
from livefilter.infra.paths import PACKAGED_LOOKS_DIR, user_looks_dir

log = logging.getLogger(__name__)

DEFAULT_LOOK = "glam"


STAGING_PREFIXES = (".install-", ".create-", ".remove-")
STALE_LEGACY_SECONDS = 600  # a staging folder without a process id is left alone this long


def staging_dir(root: Path, kind: str) -> tempfile.TemporaryDirectory:
    """A staging folder inside the looks folder, named with this process's id so that the next start can
    tell a dead process's leftovers (:func:`recover_staging`) from a live one's work."""
    return tempfile.TemporaryDirectory(dir=root, prefix=f".{kind}-{os.getpid()}-")


def check_writable(root: Path) -> Path:
    """The looks folder, created if needed, after a real write test (a read-only, full or foreign folder is
    one clear error *before* minutes of work, never a traceback after them)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root, prefix=".write-test-") as f:
            f.write(b"\0" * 65536)  # a full disk refuses this too, not only the empty file
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise LookError(f"cannot write to the looks folder {shown(str(root))} ({e.strerror or e}); "
                        "free some space or set LIVEFILTER_HOME to a writable folder") from None
    return root


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _stale(folder: Path) -> bool:
    parts = folder.name.split("-")
    if len(parts) >= 3 and parts[1].isdigit():
        return not _alive(int(parts[1]))
    try:  # an older livefilter's folder (no process id): stale once it is old enough
        return time.time() - folder.stat().st_mtime > STALE_LEGACY_SECONDS
    except OSError:
        return False


def recover_staging(root: Path) -> list[str]:
    """Put back looks a killed install left only in its staging folder, then delete the staging folders of
    processes that are gone (never a live one's). Returns the names of the looks put back."""
    recovered: list[str] = []
    try:
        entries = [p for p in root.iterdir() if p.name.startswith(STAGING_PREFIXES) and p.is_dir()
                   and not p.is_symlink()]
    except OSError:
        return recovered
    for folder in entries:
        if not _stale(folder):
            continue
        aside = folder / "replaced"
        if folder.name.startswith(".install-") and (aside / "look.json").is_file():
            try:
                name = json.loads((aside / "look.json").read_text("utf-8")).get("name")
            except (OSError, ValueError):
                name = None
            dest = root / name if isinstance(name, str) and NAME_RE.fullmatch(name) else None
            if dest is not None and not dest.exists() and not dest.is_symlink():
                try:
                    aside.rename(dest)
                    recovered.append(name)
                    log.warning("put back look %s, left aside by an install that was killed", name)
                except OSError as e:
                    log.warning("could not put back look %s from %s (%s)", name, folder, e.strerror or e)
                    continue
        shutil.rmtree(folder, ignore_errors=True)
    return recovered


@contextlib.contextmanager
def staging_or_error(root: Path, kind: str):
    """:func:`staging_dir`, with a write failure inside it (a disk that fills up while copying) as one
    LookError; the staging folder goes either way."""
    try:
        with staging_dir(root, kind) as tmp:
            yield tmp
    except OSError as e:
        raise LookError(f"cannot write the look into {shown(str(root))} ({e.strerror or e})") from None


class LookRegistry:
    """Looks by name. User looks shadow packaged looks of the same name."""

    def __init__(self, dirs: list[Path] | None = None) -> None:
        self.dirs = dirs if dirs is not None else [PACKAGED_LOOKS_DIR, user_looks_dir()]
        if dirs is None and self.dirs[1].is_dir():
            recover_staging(self.dirs[1])

    def _candidates(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for d in self.dirs:
            if not d.is_dir():
                continue
            for sub in sorted(d.iterdir()):
                if not NAME_RE.fullmatch(sub.name):  # staging folders, stray folders: not looks
                    continue
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
        """A look by name, or by a folder / .lfpack path.

        A ``.lfpack`` is installed on first use; if a look of its name is already installed it is
        used only when it is the very same look, never silently replaced.
        """
        p = Path(name_or_path)
        if p.suffix == ".lfpack" and p.is_file():
            return self.install(p, reuse_identical=True)
        if p.is_dir() and (p / "look.json").is_file():
            return load_look(p)
        found = self._candidates()
        if name_or_path not in found:
            folded = [n for n in found if n.casefold() == name_or_path.strip().casefold()]
            if len(folded) == 1:  # `--look Glam`: look names are lower-case, a user's typing need not be
                return load_look(found[folded[0]])
            avail = ", ".join(sorted(found)) or "none installed"
            near = difflib.get_close_matches(name_or_path.strip().lower(), list(found), n=1, cutoff=0.6)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise LookError(f"unknown look {shown(name_or_path)}{hint} (available: {avail})")
        return load_look(found[name_or_path])

    def default(self) -> Look:
        names = self.names()
        if not names:
            raise LookError("no looks are installed; reinstall livefilter or `livefilter looks install PACK`")
        return self.get(DEFAULT_LOOK if DEFAULT_LOOK in names else names[0])

    def _builtin(self, name: str) -> Path | None:
        """The folder of a look of this name shipped with livefilter (or in another read-only dir)."""
        user = user_looks_dir().resolve()
        for d in self.dirs:
            if d.resolve() != user and (d / name / "look.json").is_file():
                return d / name
        return None

    def install(self, pack: Path, *, replace: bool = False, reuse_identical: bool = False) -> Look:
        """Validate a ``.lfpack`` zip or a look folder and copy it into the user looks directory.

        An installed look of the same name is replaced, and a built-in one shadowed, only with
        ``replace``; ``reuse_identical`` returns the existing look instead when it holds the same files.
        The old look is moved aside before the new one is renamed into place, and put back if that fails.
        """
        pack = Path(pack)
        target_root = check_writable(user_looks_dir())
        with staging_or_error(target_root, "install") as tmp:
            staging = Path(tmp) / "look"
            if pack.is_dir():
                copy_look_folder(pack, staging)
            else:
                extract_pack(pack, staging)
            look = load_look(staging)
            dest = target_root / look.name
            taken = dest.exists() or dest.is_symlink()
            builtin = self._builtin(look.name)
            if not replace:
                for existing in ([dest] if taken else []) + ([builtin] if builtin else []):
                    if reuse_identical and same_files(staging, existing):
                        return load_look(existing)
                if reuse_identical and (taken or builtin is not None):
                    raise LookError(
                        f"a different look named '{look.name}' is already installed; run "
                        f"`livefilter looks install {pack} --replace` to replace it, or use --look {look.name}"
                    )
                if taken:
                    raise LookError(f"look '{look.name}' is already installed (use --replace to replace it)")
                if builtin is not None:
                    raise LookError(
                        f"look '{look.name}' would hide the built-in look of the same name "
                        "(use --replace to install it over the built-in one)"
                    )
            aside = Path(tmp) / "replaced"
            try:
                if taken:
                    dest.rename(aside)  # deleted with the staging folder once the new look is in place
                staging.rename(dest)
            except BaseException as e:  # an OSError, or Ctrl-C / SIGTERM between the two renames
                if taken and aside.exists() and not dest.exists() and not dest.is_symlink():
                    aside.rename(dest)  # the old look goes back before anything else (a kill: recover_staging)
                if isinstance(e, OSError):
                    raise LookError(f"cannot install look '{look.name}' into {target_root} ({e.strerror or e})") from None
                raise
        log.info("installed look %s into %s", look.name, dest)
        return load_look(dest)

    def remove(self, name: str) -> Path:
        """Delete one of the user's installed looks. Only a folder directly inside the user looks
        directory, named like a look and holding a look.json, is ever deleted."""
        check_look_name(name)
        root = user_looks_dir()
        dest = root / name
        if dest.is_symlink():  # a link the user made: remove the link, never what it points to
            dest.unlink()
            return dest
        if not dest.is_dir() or not (dest / "look.json").is_file():
            if self._builtin(name) is not None:
                raise LookError(f"look '{name}' ships with livefilter and cannot be removed")
            raise LookError(f"look '{name}' is not installed in {root}")
        if dest.resolve().parent != root.resolve() or dest.resolve().parent == PACKAGED_LOOKS_DIR.resolve():
            raise LookError(f"look '{name}' is not inside the looks folder {root}; not removing it")
        try:
            with staging_dir(root, "remove") as tmp:
                dest.rename(Path(tmp) / name)  # gone from the list at once, even if deleting fails halfway
        except OSError as e:
            raise LookError(f"cannot remove look '{name}' ({e.strerror or e})") from None
        return dest
