"""Safe file outputs: every file livefilter writes goes to a temporary file in the target folder and is
renamed into place only once it is complete, so an interrupted or failed write never leaves a
half-file where a good one (or nothing) was before.

- :func:`atomic_output` yields the temporary path for writers that want a path (PyAV, OpenCV,
  zipfile, matplotlib); :func:`write_bytes` / :func:`write_text` cover the small cases.
- ``private=True`` keeps the file readable by this user only from its first byte (the control token,
  the settings file): a secret never sits in a file with the umask's permissions, not even briefly.
- :func:`check_distinct` refuses an output that is one of the inputs, however it is spelt
  (``..``, a symbolic link, a hard link).
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from livefilter.errors import OutputError

#: errno values meaning "the disk (or quota) is full": the run stops with one line, work is kept.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS


def _describe(err: OSError) -> str:
    return err.strerror or str(err)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would have given the file


def temp_path_for(target: Path, *, private: bool = False) -> Path:
    """A new, empty file next to ``target`` that keeps its suffix (muxers guess formats by it);
    ``private``: mode 0600 (mkstemp's), else the mode open() would have given it."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=f".partial{target.suffix}")
    except OSError as e:
        raise OutputError(f"cannot write in {target.parent}: {_describe(e)}") from None
    try:
        if not private:
            os.fchmod(fd, _FILE_MODE)  # mkstemp makes it private; outputs get the usual permissions
    finally:
        os.close(fd)
    return Path(tmp)


def check_target(target: Path, *, overwrite: bool) -> Path:
    """``target`` with ``~`` expanded, checked: its folder exists, and it is absent unless ``overwrite``."""
    try:
        target = Path(target).expanduser()
    except RuntimeError:  # "~user" for a user that does not exist
        raise OutputError(f"output folder for {target} does not exist") from None
    if target.is_dir():
        raise OutputError(f"{target} is a folder, not a file")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise OutputError(f"{target} exists (use --overwrite to replace it)")
    if not target.parent.is_dir():
        raise OutputError(f"output folder {target.parent} does not exist")
    return target


def commit(tmp: Path, target: Path, *, overwrite: bool) -> Path:
    """Move the finished ``tmp`` to ``target`` (atomically; never over a file unless ``overwrite``)."""
    try:
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if target appeared meanwhile: never replaced behind the user's back
            os.unlink(tmp)
    except FileExistsError:
        discard(tmp)
        raise OutputError(f"{target} appeared while it was being written; nothing was replaced") from None
    except OSError as e:
        if not overwrite and e.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            if target.exists():  # no hard links on this filesystem: check, then rename
                discard(tmp)
                raise OutputError(f"{target} appeared while it was being written; nothing was replaced") from None
            os.replace(tmp, target)
            return target
        discard(tmp)
        raise OutputError(f"cannot write {target}: {_describe(e)}") from None
    return target


def discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


@contextmanager
def atomic_output(target: Path | str, *, overwrite: bool = True, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; when the block ends without an error, rename it
    to ``target``. On any error the temporary file is removed and ``target`` is left as it was."""
    target = check_target(Path(target), overwrite=overwrite)
    tmp = temp_path_for(target, private=private)
    try:
        yield tmp
    except OSError as e:
        discard(tmp)
        if is_disk_full(e):
            raise OutputError(f"disk full writing {target}: {_describe(e)}; nothing was replaced") from None
        raise OutputError(f"cannot write {target}: {_describe(e)}") from None
    except BaseException:
        discard(tmp)
        raise
    commit(tmp, target, overwrite=overwrite)


def write_bytes(target: Path | str, data: bytes, *, overwrite: bool = True, private: bool = False) -> Path:
    """Write ``data`` to ``target`` atomically (temporary file, fsync, rename); ``private``: mode 0600."""
    target = Path(target)
    with atomic_output(target, overwrite=overwrite, private=private) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return target.expanduser()


def write_text(target: Path | str, text: str, *, overwrite: bool = True, private: bool = False) -> Path:
    return write_bytes(target, text.encode("utf-8"), overwrite=overwrite, private=private)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def check_distinct(output: Path | str, *inputs: Path | str | None) -> None:
    """Refuse an ``output`` that is one of ``inputs``: same resolved path (``..``, symbolic links) or the
    same file on disk (a hard link)."""
    out = Path(output).expanduser()
    out_id = _identity(out)
    out_real = os.path.realpath(out)
    for inp in inputs:
        if inp is None:
            continue
        src = Path(inp).expanduser()
        src_id = _identity(src)
        if os.path.realpath(src) == out_real or (out_id is not None and out_id == src_id):
            raise OutputError(f"output {output} is the input {inp}: writing it would destroy the input")
