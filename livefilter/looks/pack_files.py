"""Bringing a look's files in from a ``.lfpack`` zip or a folder, under one set of limits.

Both sources go through :func:`check_members` (count, paths, per-file and total size) before a byte
is written, and both are copied with a bounded read, so a header or a file that lies about its size
cannot write more than the limits allow. Nothing outside the source is ever read: zip links and
folder symlinks are refused, not followed. Every problem is a one-line :class:`LookError`.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from livefilter.errors import LookError
from livefilter.looks.pack import MAX_MANIFEST_BYTES, MAX_MODEL_BYTES, MAX_PREVIEW_BYTES, load_look, sha256_file
from livefilter.looks.schema import check_member_path, shown

try:  # optional codecs of the zip format; the interpreter may be built without them
    from lzma import LZMAError
except ImportError:  # pragma: no cover
    LZMAError = OSError  # type: ignore[misc,assignment]

MAX_PACK_MEMBERS = 16
MAX_PACK_DEPTH = 4
MAX_PACK_BYTES = MAX_MODEL_BYTES + MAX_PREVIEW_BYTES + MAX_MANIFEST_BYTES
MAX_NAME_BYTES = 255  # one path component, as most filesystems allow
SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
# What reading a damaged member can raise: bad CRC (BadZipFile), a corrupt stream (zlib.error,
# LZMAError, OSError from bz2), a truncated one (EOFError), a name the filesystem refuses (OSError).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, LZMAError, EOFError, OSError, ValueError, NotImplementedError,
                RuntimeError)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One file of a pack: where it goes (relative to the look folder) and its declared size."""

    path: PurePosixPath
    size: int
    label: str  # the name as the source spells it, for messages


def size_limit(path: PurePosixPath) -> int:
    return MAX_MODEL_BYTES if path.suffix == ".onnx" else MAX_PREVIEW_BYTES


def check_members(source: Path, members: list[Member]) -> None:
    """The limits every pack obeys, whatever it came from."""
    if not members:
        raise LookError(f"{source} is empty")
    if len(members) > MAX_PACK_MEMBERS:
        raise LookError(f"{source} has {len(members)} files (at most {MAX_PACK_MEMBERS})")
    lowered = [m.path.as_posix().lower() for m in members]
    if len(set(lowered)) != len(lowered):
        raise LookError(f"{source}: duplicate file names")
    as_dirs = {parent.as_posix().lower() for m in members for parent in m.path.parents}
    if any(name in as_dirs for name in lowered):
        raise LookError(f"{source}: a file name is also used as a folder")
    total = 0
    for m in members:
        if len(m.path.parts) > MAX_PACK_DEPTH:
            raise LookError(f"{source}: {shown(m.label)} is nested deeper than {MAX_PACK_DEPTH} folders")
        if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in m.path.parts):
            raise LookError(f"{source}: a file name in {shown(m.label)} is longer than {MAX_NAME_BYTES} bytes")
        if m.size > size_limit(m.path):
            raise LookError(f"{source}: {shown(m.label)} is too large ({m.size} bytes)")
        total += m.size
        if total > MAX_PACK_BYTES:
            raise LookError(f"{source}: contents exceed {MAX_PACK_BYTES >> 20} MiB")


def _copy_bounded(src: BinaryIO, out: Path, size: int, source: Path, label: str) -> None:
    """Copy exactly ``size`` bytes; more or fewer means the source lied (or changed) about the size."""
    written = 0
    with open(out, "xb") as dst:
        while chunk := src.read(min(_CHUNK, size + 1 - written)):
            written += len(chunk)
            if written > size:  # a lying header: stop a zip bomb early
                raise LookError(f"{source}: {shown(label)} is larger than its header says")
            dst.write(chunk)
    if written != size:
        raise LookError(f"{source}: {shown(label)} is shorter than its header says")


def _target(dest: Path, rel: PurePosixPath) -> Path:
    out = dest.joinpath(*rel.parts)
    if dest.resolve() not in out.resolve().parents:
        raise LookError(f"path escapes the look pack: {shown(rel.as_posix())}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _zip_reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def extract_pack(pack: Path, dest: Path) -> None:
    """Extract a look zip safely: no path traversal, no links, bounded member count and sizes."""
    if not pack.is_file():
        raise LookError(f"look pack {pack} does not exist")
    try:
        zf = zipfile.ZipFile(pack)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise LookError(f"{pack} is not a valid look pack ({_zip_reason(e)})") from None
    with zf:
        infos = zf.infolist()
        if any(not m.filename for m in infos):
            raise LookError(f"{pack}: a member has an empty name")
        infos = [m for m in infos if not m.is_dir()]
        if len(infos) > MAX_PACK_MEMBERS:
            raise LookError(f"{pack} has {len(infos)} files (at most {MAX_PACK_MEMBERS})")
        members = [Member(check_member_path(m.filename), m.file_size, m.filename) for m in infos]
        for m in infos:
            if (m.external_attr >> 16) & 0o170000 == 0o120000:
                raise LookError(f"{pack}: symbolic link {shown(m.filename)} is not allowed")
            if m.flag_bits & 0x1:
                raise LookError(f"{pack}: {shown(m.filename)} is encrypted (look packs cannot be)")
            if m.compress_type not in SUPPORTED_COMPRESSION:
                raise LookError(
                    f"{pack}: {shown(m.filename)} uses an unsupported compression method ({m.compress_type}); "
                    f"use one of {', '.join(SUPPORTED_COMPRESSION.values())}"
                )
        check_members(pack, members)
        # A pack may hold its files at the top level or inside one folder.
        first = members[0].path.parts[0]
        in_one_folder = all(len(m.path.parts) > 1 and m.path.parts[0] == first for m in members)
        dest.mkdir(parents=True)
        for info, m in zip(infos, members):
            rel = PurePosixPath(*m.path.parts[1:]) if in_one_folder else m.path
            try:
                out = _target(dest, rel)
                with zf.open(info) as src:
                    _copy_bounded(src, out, info.file_size, pack, info.filename)
            except _READ_ERRORS as e:
                raise LookError(f"{pack}: {shown(info.filename)} cannot be extracted ({_zip_reason(e)})") from None


def _folder_members(folder: Path) -> list[Member]:
    """The regular files under ``folder``, refusing links and special files, bounded while walking."""
    members: list[Member] = []
    pending = [PurePosixPath()]
    while pending:
        rel_dir = pending.pop()
        try:
            entries = sorted(os.scandir(folder.joinpath(*rel_dir.parts)), key=lambda e: e.name)
        except OSError as e:
            raise LookError(f"{folder}: cannot read {shown(rel_dir.as_posix())} ({e.strerror or e})") from None
        for entry in entries:
            rel = rel_dir / entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise LookError(f"{folder}: symbolic link {shown(rel.as_posix())} is not allowed in a look folder")
            if stat.S_ISDIR(st.st_mode):
                if len(rel.parts) >= MAX_PACK_DEPTH:
                    raise LookError(f"{folder}: {shown(rel.as_posix())} is nested deeper than {MAX_PACK_DEPTH} folders")
                pending.append(rel)
            elif stat.S_ISREG(st.st_mode):
                members.append(Member(check_member_path(rel.as_posix()), st.st_size, rel.as_posix()))
            else:
                raise LookError(f"{folder}: {shown(rel.as_posix())} is not a regular file")
            if len(members) > MAX_PACK_MEMBERS:
                raise LookError(f"{folder} has more than {MAX_PACK_MEMBERS} files")
    return members


def copy_look_folder(folder: Path, dest: Path) -> None:
    """Copy a look folder under the same rules as a pack: regular files only, links refused."""
    if not (folder / "look.json").is_file():
        raise LookError(f"{folder} is not a look (no look.json)")
    members = _folder_members(folder)
    check_members(folder, members)
    dest.mkdir(parents=True)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    for m in members:
        src_path = folder.joinpath(*m.path.parts)
        try:
            fd = os.open(src_path, os.O_RDONLY | nofollow)
        except OSError as e:
            raise LookError(f"{folder}: cannot read {shown(m.label)} ({e.strerror or e})") from None
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise LookError(f"{folder}: {shown(m.label)} is not a regular file")
            try:
                _copy_bounded(src, _target(dest, m.path), m.size, folder, m.label)
            except OSError as e:
                raise LookError(f"{folder}: cannot copy {shown(m.label)} ({e.strerror or e})") from None


def make_pack(look_dir: Path, out: Path, *, overwrite: bool = False) -> Path:
    """Zip a look folder into a ``.lfpack`` (written to a temporary file, renamed when complete; an
    existing file is replaced only with ``overwrite``)."""
    from livefilter.infra.atomic import atomic_output, check_distinct

    look = load_look(look_dir)
    out = Path(out)
    files = [f for f in sorted(Path(look_dir).iterdir()) if f.is_file() and not f.is_symlink()]
    check_distinct(out, *files)
    with atomic_output(out, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f"{look.name}/{f.name}")
    return out.expanduser()


def same_files(a: Path, b: Path) -> bool:
    """Whether two look folders hold the same files with the same bytes."""
    def digest(folder: Path) -> dict[str, str] | None:
        try:
            return {m.path.as_posix(): sha256_file(folder.joinpath(*m.path.parts)) for m in _folder_members(folder)}
        except (LookError, OSError):
            return None

    da = digest(a)
    return da is not None and da == digest(b)

