"""Real face media that ships inside installed packages (works offline right after install).

insightface's wheel carries ``insightface/data/images/t1.jpg``, a group photo with six faces. It is
located without importing insightface (whose import pulls in heavy and sometimes missing modules):
``importlib.util.find_spec`` of a top-level package only locates it, and the distribution's file
list (``importlib.metadata``) is the fallback.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path

from livefilter.errors import InputError

log = logging.getLogger(__name__)

GROUP_PHOTO = ("data", "images", "t1.jpg")
GROUP_PHOTO_FACES = 6


def _from_spec(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = Path(loc).joinpath(*GROUP_PHOTO)
        if path.is_file():
            return path
    return None


def _from_metadata(distribution: str) -> Path | None:
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    wanted = "/".join(("insightface",) + GROUP_PHOTO)
    for f in files:
        if str(f).replace("\\", "/") == wanted:
            path = Path(str(f.locate()))
            if path.is_file():
                return path
    return None


def group_photo_path() -> Path:
    """insightface's t1.jpg: a real group photo with six faces (InputError when not installed)."""
    path = _from_spec("insightface") or _from_metadata("insightface")
    if path is None:
        raise InputError(
            "the demo group photo (insightface's t1.jpg) is not installed: "
            "pip install --no-deps insightface, or pass your own photo"
        )
    return path
