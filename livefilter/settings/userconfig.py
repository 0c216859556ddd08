"""The user settings file: the control panel's stable port and token, and the OBS scene mapping.

One JSON file, :func:`livefilter.infra.paths.user_config_path` (``~/.config/livefilter/config.json`` on
Linux), readable by this user only because it holds the control token::

    {"format": 1,
     "control": {"port": 24817, "token": "Qm9uIGFwcMOpdGl0IDotKQ-hvU3kLx"},
     "obs": {"scene_looks": {"Just Chatting": "glam", "Gaming": "natural"},
             "pause_scenes": ["BRB"]}}

Like the profiles file it is validated on every read (a hand-edited or corrupt file is reported with
the reason, never half-used or overwritten) and written atomically.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from livefilter.errors import SettingError
from livefilter.looks.pack import NAME_RE as LOOK_NAME_RE
from livefilter.settings.store import JsonFile
from livefilter.infra.paths import user_config_path
from livefilter.infra.terminal_text import printable

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
MAX_FILE_BYTES = 1 << 20
MAX_SCENES = 512
MAX_SCENE_NAME = 256
TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-.~]{16,256}$")
MIN_PORT, MAX_PORT = 1024, 65535



def _is_format(v: Any) -> bool:
    """The settings format number itself (``true`` is not 1)."""
    return isinstance(v, int) and not isinstance(v, bool) and v == FORMAT_VERSION

class ConfigError(SettingError):
    """The user settings file or a value for it is invalid."""


def check_scene_name(name: Any) -> str:
    """An OBS scene name: any printable text of 1..256 characters (OBS allows almost anything)."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_SCENE_NAME or not name.isprintable():
        raise ConfigError(f"scene name must be 1-{MAX_SCENE_NAME} printable characters, got {name!r}")
    return name


def check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not MIN_PORT <= port <= MAX_PORT:
        raise ConfigError(f"control port must be a number in {MIN_PORT}..{MAX_PORT}, got {port!r}")
    return port


def check_token(token: Any) -> str:
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        raise ConfigError("control token must be 16-256 URL-safe characters (letters, digits, - _ . ~)")
    return token


@dataclass(frozen=True)
class ControlSettings:
    """The control server's port and token, kept across runs so the OBS dock URL stays the same."""

    port: int | None = None
    token: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("port", self.port), ("token", self.token)) if v is not None}

    @classmethod
    def from_json(cls, data: Any) -> "ControlSettings":
        if not isinstance(data, dict) or set(data) - {"port", "token"}:
            raise ConfigError("'control' must be an object with 'port' and 'token'")
        port = check_port(data["port"]) if "port" in data else None
        token = check_token(data["token"]) if "token" in data else None
        return cls(port, token)


@dataclass(frozen=True)
class ObsSettings:
    """Which look each OBS scene gets, the scenes on which the look is paused, and the background
    each scene asks for (``{"background": "blur", "blur": 0.7}``, ``{"background": "replace",
    "source": "beach.jpg"}``: a file of the user's backgrounds folder)."""

    scene_looks: dict[str, str] = field(default_factory=dict)
    pause_scenes: tuple[str, ...] = ()
    scene_backgrounds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"scene_looks": dict(sorted(self.scene_looks.items())),
                               "pause_scenes": sorted(self.pause_scenes)}
        if self.scene_backgrounds:
            doc["scene_backgrounds"] = dict(sorted(self.scene_backgrounds.items()))
        return doc

    @classmethod
    def from_json(cls, data: Any) -> "ObsSettings":
        if not isinstance(data, dict) or set(data) - {"scene_looks", "pause_scenes", "scene_backgrounds"}:
            raise ConfigError("'obs' must be an object with 'scene_looks', 'pause_scenes' and 'scene_backgrounds'")
        looks = data.get("scene_looks", {})
        pauses = data.get("pause_scenes", [])
        backgrounds = data.get("scene_backgrounds", {})
        if not isinstance(looks, dict) or len(looks) > MAX_SCENES:
            raise ConfigError(f"'obs.scene_looks' must map at most {MAX_SCENES} scene names to look names")
        if not isinstance(pauses, list) or len(pauses) > MAX_SCENES:
            raise ConfigError(f"'obs.pause_scenes' must be a list of at most {MAX_SCENES} scene names")
        if not isinstance(backgrounds, dict) or len(backgrounds) > MAX_SCENES:
            raise ConfigError(f"'obs.scene_backgrounds' must map at most {MAX_SCENES} scene names to backgrounds")
        for scene, look in looks.items():
            check_scene_name(scene)
            if not isinstance(look, str) or not LOOK_NAME_RE.fullmatch(look):
                raise ConfigError(f"'obs.scene_looks': {look!r} (for scene {scene!r}) is not a look name")
        for scene, bg in backgrounds.items():
            check_scene_name(scene)
            check_scene_background(bg, scene)
        return cls(dict(looks), tuple(dict.fromkeys(check_scene_name(s) for s in pauses)), dict(backgrounds))


SCENE_BACKGROUND_MODES = ("keep", "blur", "replace")


def check_scene_background(bg: Any, scene: str) -> dict[str, Any]:
    """One scene's background: a mode, an optional blur 0..1, a source file name for replace."""
    where = f"'obs.scene_backgrounds' (scene {scene!r})"
    if not isinstance(bg, dict) or set(bg) - {"background", "blur", "source"}:
        raise ConfigError(f"{where}: must be an object with 'background' and optionally 'blur' or 'source'")
    if bg.get("background") not in SCENE_BACKGROUND_MODES:
        raise ConfigError(f"{where}: 'background' must be one of {', '.join(SCENE_BACKGROUND_MODES)}")
    blur = bg.get("blur", 0.6)
    if isinstance(blur, bool) or not isinstance(blur, (int, float)) or not 0.0 <= blur <= 1.0:
        raise ConfigError(f"{where}: 'blur' must be a number between 0 and 1")
    source = bg.get("source")
    if (bg["background"] == "replace") != (source is not None):
        raise ConfigError(f"{where}: 'source' (a file name of your backgrounds folder) goes with replace only")
    if source is not None and (not isinstance(source, str) or not 0 < len(source) <= 128 or "/" in source
                               or "\\" in source or source.startswith(".")):
        raise ConfigError(f"{where}: 'source' must be a plain file name")
    return bg


@dataclass(frozen=True)
class UserConfig:
    control: ControlSettings = field(default_factory=ControlSettings)
    obs: ObsSettings = field(default_factory=ObsSettings)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "control": self.control.to_json(), "obs": self.obs.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> "UserConfig":
        if not isinstance(data, dict) or not _is_format(data.get("format")):
            raise ConfigError(f"not a livefilter settings file (format {FORMAT_VERSION})")
        unknown = set(data) - {"format", "control", "obs"}
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        return cls(ControlSettings.from_json(data.get("control", {})), ObsSettings.from_json(data.get("obs", {})))



def _keep_private(path: Path) -> None:
    """The settings file holds the control token: readable by its owner only. A file others can read is
    tightened to 0600, with a warning (someone may have read the token: `livefilter control --new-token`)."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(0o600)
            log.warning("settings file %s holding the control token was readable by others (mode %o); made it "
                        "0600 (run `livefilter control --new-token` if someone may have read it)", printable(path), mode)
    except OSError as e:
        log.warning("cannot check the permissions of %s: %s", printable(path), e.strerror or e)

class ConfigStore:
    """The settings file (a private :class:`~livefilter.settings.store.JsonFile`). Every call re-reads it."""

    def __init__(self, path: Path | None = None) -> None:
        # resolved on use, so LIVEFILTER_HOME set after construction (tests, portable installs) counts
        self.file = JsonFile(path if path is not None else user_config_path, what="settings file",
                             max_bytes=MAX_FILE_BYTES, error=ConfigError, private=True, through_links=True)

    @property
    def path(self) -> Path:
        return self.file.path

    def load(self) -> UserConfig:
        data = self.file.read()
        if data is None:
            return UserConfig()
        try:
            config = UserConfig.from_json(data)
        except ConfigError as e:
            raise ConfigError(f"settings file {self.path}: {e}") from None
        if config.control.token:
            _keep_private(self.path)
        return config

    def update(self, change: Callable[[UserConfig], UserConfig]) -> UserConfig:
        """Read, change and write back atomically (a corrupt file is reported, never overwritten)."""
        with self.file.lock:
            config = change(self.load())
            UserConfig.from_json(config.to_json())  # validate what is about to be written
            self.file.write(config.to_json())
        return config

    def update_control(self, **changes: Any) -> ControlSettings:
        return self.update(lambda c: replace(c, control=replace(c.control, **changes))).control

    def update_obs(self, change: Callable[[ObsSettings], ObsSettings]) -> ObsSettings:
        return self.update(lambda c: replace(c, obs=change(c.obs))).obs


__all__ = ["ConfigError", "ConfigStore", "ControlSettings", "ObsSettings", "UserConfig", "check_scene_background",
           "check_scene_name"]
