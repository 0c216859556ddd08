"""Where livefilter keeps user data. ``LIVEFILTER_HOME`` overrides everything (tests, portable)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PACKAGED_LOOKS_DIR = PACKAGE_DIR / "looks"
PACKAGED_MODELS_DIR = PACKAGE_DIR / "models"


def _home() -> Path | None:
    home = os.environ.get("LIVEFILTER_HOME")
    return Path(home).expanduser() if home else None


def user_data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir("livefilter", appauthor=False))


def user_cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir("livefilter", appauthor=False))


def user_config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir("livefilter", appauthor=False))


def user_config_path() -> Path:
    """The user settings file (stable control port and token, OBS scene mapping)."""
    return user_config_dir() / "config.json"


def user_looks_dir() -> Path:
    return user_data_dir() / "looks"


def user_backgrounds_dir() -> Path:
    """Background images and videos the control panel / API may choose by name (``--background-file``
    takes any path; a remote request only a name in this folder)."""
    return user_data_dir() / "backgrounds"


def user_profiles_path() -> Path:
    return user_data_dir() / "profiles.json"


def engine_cache_dir() -> Path:
    return user_cache_dir() / "engines"
