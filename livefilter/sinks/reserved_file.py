"""A binary output file that keeps a little disk space in reserve, so that a video can still be
finalised (encoder flushed, container index written) when the disk fills up mid-run.

FFmpeg remembers the first failed write of an output and silently drops every later one, so a
container whose index goes at the end (MP4, MOV) would be unplayable after a disk-full error. Here
the muxer writes through this Python file object instead: on the first "disk full" error the reserve
is given back, the write is retried and :attr:`ReservedFile.full` is set, so the sink can stop the run
and still finish the file with the space the reserve held.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from livefilter.infra.atomic import is_disk_full

log = logging.getLogger(__name__)

RESERVE_BYTES = 8 << 20  # encoder flush + an MP4 index of several hours at 30 fps
MIN_RESERVE_BYTES = 64 << 10


def reserve_size(folder: Path, wanted: int = RESERVE_BYTES) -> int:
    """``wanted`` bytes, or a quarter of the free space when that is less (a nearly full disk still gets
    a run, with a smaller reserve); 0 when even that is too small to be useful."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return wanted
    size = min(wanted, st.f_bavail * st.f_frsize // 4)
    return size if size >= MIN_RESERVE_BYTES else 0


class ReservedFile:
    """``open(path, "wb")`` plus a reserve file next to it (``.reserve``), removed on :meth:`close`."""

    def __init__(self, path: Path, reserve_bytes: int = RESERVE_BYTES) -> None:
        self.path = Path(path)
        self.full = False
        self._reserve: Path | None = None
        self._f = open(self.path, "wb", buffering=0)  # every write reaches the OS: errors surface here
        reserve_bytes = reserve_size(self.path.parent, reserve_bytes)
        if reserve_bytes > 0:
            reserve = self.path.with_name(self.path.name + ".reserve")
            try:
                fd = os.open(reserve, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.posix_fallocate(fd, 0, reserve_bytes)
                finally:
                    os.close(fd)
                self._reserve = reserve
            except (OSError, AttributeError) as e:  # no space for it, or no fallocate here
                log.info("no disk reserve for %s (%s)", self.path.name, e)
                self._drop_reserve(reserve)

    # -- the file protocol PyAV uses ---------------------------------------------------------------
    def write(self, data) -> int:
        try:
            return self._write_all(data)
        except OSError as e:
            if not is_disk_full(e) or self._reserve is None:
                raise
            # Disk full: give back the reserve and finish this write with it; the sink stops the run.
            self.full = True
            self._drop_reserve(self._reserve)
            self._reserve = None
            return self._write_all(data)

    def _write_all(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        pos = self._f.tell()
        try:
            while done < len(view):
                done += self._f.write(view[done:]) or 0
        except OSError:
            self._f.seek(pos)  # a retry rewrites the whole block at the same place
            raise
        return done

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def flush(self) -> None:
        self._f.flush()

    @property
    def closed(self) -> bool:
        return self._f.closed

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            if self._reserve is not None:
                self._drop_reserve(self._reserve)
                self._reserve = None

    @staticmethod
    def _drop_reserve(path: Path) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass
