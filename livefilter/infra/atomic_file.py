"""Write a small *private* file (the control token) atomically, created 0600 from the start.

General outputs use :mod:`livefilter.infra.atomic`; this one exists because a secret must never sit in a
file with the umask's permissions, not even for the moment between creating and chmod-ing it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: Path, text: str, prefix: str = ".tmp-") -> None:
    """Temporary file in the same folder (created 0600: readable by this user only), fsync, rename.

    Raises ``OSError``; the temporary file is removed on any failure.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
