"""Personal profiles: a streamer's preferred strength and colour edits per look, saved under a name.

A profile remembers which look was active when it was saved and, for every look it has been saved
with, the strength and colour edits the streamer chose. Loading a profile switches to its look with
those settings; while a profile is active, switching to another look it knows restores that look's
settings too.

All profiles live in one JSON file, :func:`livefilter.infra.paths.user_profiles_path`::

    {"format": 1,
     "profiles": {"evening": {"look": "glam",
                              "looks": {"glam": {"strength": 0.7,
                                                 "edits": {"brightness": 0.1, "contrast": 0.0,
                                                           "saturation": -0.2, "warmth": 0.3}}}}}}

The file is validated on every load (a hand-edited or corrupt file is reported, never half-used) and
written atomically (temporary file in the same folder, fsync, rename), so a crash mid-save never
leaves a broken file behind.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from livefilter.errors import SettingError
from livefilter.looks.pack import NAME_RE as LOOK_NAME_RE
from livefilter.settings.store import JsonFile
from livefilter.infra.paths import user_profiles_path
from livefilter.types import ColorEdits

FORMAT_VERSION = 1
PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
MAX_PROFILES = 256
MAX_LOOKS_PER_PROFILE = 256
MAX_FILE_BYTES = 1 << 20
EDIT_KEYS = ("brightness", "contrast", "saturation", "warmth")


class ProfileError(SettingError):
    """A profile name, value or the profiles file is invalid."""


def check_profile_name(name: Any) -> str:
    if not isinstance(name, str) or not PROFILE_NAME_RE.fullmatch(name) or name != name.strip():
        raise ProfileError(
            f"profile name must be 1-64 letters, digits, spaces, '.', '_' or '-' (starting with a letter "
            f"or digit), got {name!r}"
        )
    return name


def _number(value: Any, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProfileError(f"{what} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    if not lo <= float(value) <= hi:
        raise ProfileError(f"{what} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def parse_edits(data: Any, what: str = "edits", base: ColorEdits | None = None) -> ColorEdits:
    """Colour edits from a JSON object; keys left out keep ``base`` (or 0). Unknown keys are refused."""
    if not isinstance(data, dict):
        raise ProfileError(f"{what} must be an object with {', '.join(EDIT_KEYS)}")
    unknown = set(data) - set(EDIT_KEYS)
    if unknown:
        raise ProfileError(f"{what}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                           f"(allowed: {', '.join(EDIT_KEYS)})")
    values = asdict(base) if base is not None else {k: 0.0 for k in EDIT_KEYS}
    for k, v in data.items():
        values[k] = _number(v, f"{what}.{k}", -1.0, 1.0)
    return ColorEdits(**values)


@dataclass(frozen=True)
class LookPrefs:
    strength: float
    edits: ColorEdits = field(default_factory=ColorEdits)

    def to_json(self) -> dict[str, Any]:
        return {"strength": self.strength, "edits": asdict(self.edits)}

    @classmethod
    def from_json(cls, data: Any, what: str) -> "LookPrefs":
        if not isinstance(data, dict) or set(data) - {"strength", "edits"} or "strength" not in data:
            raise ProfileError(f"{what} must be an object with 'strength' and optional 'edits'")
        strength = _number(data["strength"], f"{what}.strength", 0.0, 1.0)
        edits = parse_edits(data.get("edits", {}), f"{what}.edits")
        return cls(strength, edits)


@dataclass(frozen=True)
class Profile:
    name: str
    look: str
    looks: dict[str, LookPrefs]

    def prefs(self, look: str | None = None) -> LookPrefs | None:
        return self.looks.get(look or self.look)

    def to_json(self) -> dict[str, Any]:
        return {"look": self.look, "looks": {k: v.to_json() for k, v in sorted(self.looks.items())}}

    @classmethod
    def from_json(cls, name: str, data: Any) -> "Profile":
        check_profile_name(name)
        what = f"profile '{name}'"
        if not isinstance(data, dict) or set(data) - {"look", "looks"}:
            raise ProfileError(f"{what} must be an object with 'look' and 'looks'")
        look = data.get("look")
        if not isinstance(look, str) or not LOOK_NAME_RE.fullmatch(look):
            raise ProfileError(f"{what}: 'look' must be a look name, got {look!r}")
        looks_d = data.get("looks", {})
        if not isinstance(looks_d, dict) or len(looks_d) > MAX_LOOKS_PER_PROFILE:
            raise ProfileError(f"{what}: 'looks' must be an object of at most {MAX_LOOKS_PER_PROFILE} looks")
        looks: dict[str, LookPrefs] = {}
        for lk, prefs in looks_d.items():
            if not LOOK_NAME_RE.fullmatch(lk):
                raise ProfileError(f"{what}: {lk!r} is not a look name")
            looks[lk] = LookPrefs.from_json(prefs, f"{what}: looks.{lk}")
        if look not in looks:
            raise ProfileError(f"{what}: has no settings for its own look '{look}'")
        return cls(name, look, looks)


def profile_from_controls(name: str, controls, previous: Profile | None = None) -> Profile:
    """A profile holding the live ``controls`` (look, strength, edits), merged into ``previous``."""
    check_profile_name(name)
    looks = dict(previous.looks) if previous is not None else {}
    looks[controls.look] = LookPrefs(float(controls.strength), controls.edits)
    return Profile(name, controls.look, looks)


class ProfileStore:
    """The profiles file (a :class:`~livefilter.settings.store.JsonFile`). Every call re-reads it."""

    def __init__(self, path: Path | None = None) -> None:
        # resolved on use, so LIVEFILTER_HOME set after construction (tests, portable installs) counts
        self.file = JsonFile(path if path is not None else user_profiles_path, what="profiles file",
                             max_bytes=MAX_FILE_BYTES, error=ProfileError)

    @property
    def path(self) -> Path:
        return self.file.path

    def load_all(self) -> dict[str, Profile]:
        path = self.path
        data = self.file.read()
        if data is None:
            return {}
        if not isinstance(data, dict) or (isinstance(data.get("format"), bool) or data.get("format") != FORMAT_VERSION) or not isinstance(data.get("profiles"), dict):
            raise ProfileError(f"profiles file {path} is not a livefilter profiles file (format {FORMAT_VERSION})")
        profiles = data["profiles"]
        if len(profiles) > MAX_PROFILES:
            raise ProfileError(f"profiles file {path} holds more than {MAX_PROFILES} profiles")
        try:
            return {name: Profile.from_json(name, p) for name, p in profiles.items()}
        except ProfileError as e:
            raise ProfileError(f"profiles file {path}: {e}") from None

    def names(self) -> list[str]:
        return sorted(self.load_all())

    def get(self, name: str) -> Profile:
        check_profile_name(name)
        profiles = self.load_all()
        if name not in profiles:
            avail = ", ".join(sorted(profiles)) or "none saved yet"
            raise ProfileError(f"unknown profile '{name}' (available: {avail})")
        return profiles[name]

    def save(self, profile: Profile) -> Path:
        with self.file.lock:
            self._save_locked(profile)
        return self.path

    def save_controls(self, name: str, controls) -> Profile:
        """Save the live controls as profile ``name`` (keeping its settings for other looks)."""
        check_profile_name(name)
        with self.file.lock:
            profile = profile_from_controls(name, controls, self.load_all().get(name))
            self._save_locked(profile)
        return profile

    def _save_locked(self, profile: Profile) -> None:
        check_profile_name(profile.name)
        Profile.from_json(profile.name, profile.to_json())  # validate what is about to be written
        profiles = self.load_all()  # a corrupt file is reported, never silently overwritten
        profiles[profile.name] = profile
        if len(profiles) > MAX_PROFILES:
            raise ProfileError(f"at most {MAX_PROFILES} profiles can be saved")
        self._write(profiles)

    def delete(self, name: str) -> None:
        with self.file.lock:
            profiles = self.load_all()
            if name not in profiles:
                raise ProfileError(f"unknown profile '{name}'")
            del profiles[name]
            self._write(profiles)

    def _write(self, profiles: dict[str, Profile]) -> None:
        self.file.write({"format": FORMAT_VERSION, "profiles": {n: p.to_json() for n, p in sorted(profiles.items())}})


def apply_profile_to_settings(settings, profile: Profile):
    """``livefilter run --profile``: the profile fills in what the command line left open.

    An explicit ``--look`` wins over the profile's look (the profile's settings for that look still
    apply when it has some); an explicit ``--strength`` or colour edit wins over the profile's.
    """
    if settings.look is None:
        settings.look = profile.look
    prefs = profile.prefs(settings.look)
    if prefs is not None:
        if settings.strength is None:
            settings.strength = prefs.strength
        if settings.edits is None:
            settings.edits = prefs.edits
    return settings
