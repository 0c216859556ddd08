"""Real face media that ships inside installed packages (works offline right after install)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from livefilter.errors import InputError


def _package_dir(name: str) -> Path | None:
    # find_spec on the top-level package reads no code of it (insightface imports heavy modules).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def group_photo_path() -> Path:
    """insightface's t1.jpg: a real group photo with six faces."""
    root = _package_dir("insightface")
    if root is not None:
        path = root / "data" / "images" / "t1.jpg"
        if path.is_file():
            return path
    raise InputError("the bundled demo photo is missing: pip install --no-deps insightface (or pass --photo PATH)")
