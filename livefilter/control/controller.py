"""Validated live changes to a running :class:`~livefilter.pipeline.host.Pipeline`, and its state as JSON.

The control server, the preview-window hotkeys and the CLI all change a pipeline through one
:class:`Controller`, so that validation and messages are the same everywhere and two changes made
at the same moment (a Stream Deck button and a slider) never overwrite each other: every change is
read-modify-write under one lock per pipeline, then handed to ``Pipeline.update()``, which applies it
on the next processed frame. Nothing here ever runs on the pipeline thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import deque
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from livefilter.finish.settings import FinishSettings
from livefilter.errors import LivefilterError, SettingError
from livefilter.looks.pack import NAME_RE as LOOK_NAME_RE
from livefilter.looks.pack import ColorEdits, Look
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import Pipeline
from livefilter.scene.background import BACKGROUND_MODES, IMAGE_SUFFIXES, VIDEO_SUFFIXES
from livefilter.scene.stage import SceneControls
from livefilter.infra.paths import user_backgrounds_dir
from livefilter.settings.profiles import Profile, ProfileError, ProfileStore, check_profile_name, parse_edits

log = logging.getLogger(__name__)

MAX_DISABLED_TRACKS = 256
LOOKS_TTL_S = 30.0
FPS_WINDOW_S = 2.0
FACE_GRACE_S = 1.0


class ControlError(SettingError):
    """A rejected live change; ``status`` is the HTTP status the control server answers with."""

    status = 400


class NotFound(ControlError):
    status = 404


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _finite(x: float) -> float | None:
    return round(float(x), 3) if math.isfinite(x) else None


_controllers: "weakref.WeakKeyDictionary[Pipeline, Controller]" = weakref.WeakKeyDictionary()
_controllers_lock = threading.Lock()


class Controller:
    """All live changes to one pipeline. Use :meth:`for_pipeline` to share one between front ends."""

    def __init__(self, pipeline: Pipeline, registry: LookRegistry | None = None,
                 profiles: ProfileStore | None = None) -> None:
        self.pipeline = pipeline
        self.registry = registry or LookRegistry()
        self.profiles = profiles or ProfileStore()
        self.active_profile: str | None = None
        self._lock = threading.RLock()
        self._looks_cache: tuple[float, list[Look]] | None = None
        self._fps_samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._fps_lock = threading.Lock()
        self._recent_faces: dict[int, tuple[float, dict[str, Any]]] = {}
        self._faces_lock = threading.Lock()
        self._state_sources: dict[str, Callable[[], Any]] = {}

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline, registry: LookRegistry | None = None,
                     profiles: ProfileStore | None = None) -> "Controller":
        """The one controller of ``pipeline`` (created on first use)."""
        with _controllers_lock:
            ctl = _controllers.get(pipeline)
            if ctl is None:
                ctl = cls(pipeline, registry, profiles)
                _controllers[pipeline] = ctl
            return ctl

    # -- looks ------------------------------------------------------------------------------------
    def looks(self, refresh: bool = False) -> list[Look]:
        """Installed looks (manifests only), cached for a few seconds."""
        now = time.monotonic()
        cached = self._looks_cache
        if refresh or cached is None or now - cached[0] > LOOKS_TTL_S:
            looks = self.registry.list()
            self._looks_cache = cached = (now, looks)
        return cached[1]

    def look_names(self) -> list[str]:
        return [lk.name for lk in self.looks()]

    def find_look(self, name: Any) -> Look:
        if not isinstance(name, str) or not LOOK_NAME_RE.fullmatch(name):
            raise ControlError(f"look name must be a string matching {LOOK_NAME_RE.pattern}, got {name!r}")
        for lk in self.looks():
            if lk.name == name:
                return lk
        for lk in self.looks(refresh=True):  # installed since the last listing?
            if lk.name == name:
                return lk
        avail = ", ".join(self.look_names()) or "none installed"
        raise NotFound(f"unknown look '{name}' (available: {avail})")

    # -- changes -----------------------------------------------------------------------------------
    def _apply(self, **changes):
        try:
            return self.pipeline.update(**changes)  # validates, loads a new look, then swaps atomically
        except ControlError:
            raise
        except LivefilterError as e:  # a bad value, a look that fails to load: nothing was changed
            raise ControlError(str(e)) from None

    def set_look(self, name: Any) -> None:
        look = self.find_look(name)
        with self._lock:
            changes: dict[str, Any] = {"look": look.name}
            prefs = self._active_prefs(look.name)
            changes["finish"] = look.finish  # the look's own skin finish; the slider moves it from there
            if prefs is not None:
                changes.update(strength=prefs.strength, edits=prefs.edits)
            self._apply(**changes)

    def look_by_index(self, index: int) -> str | None:
        """Switch to the ``index``-th installed look (0-based, name order); None if there is none."""
        names = self.look_names()
        if not 0 <= index < len(names):
            return None
        self.set_look(names[index])
        return names[index]

    def set_strength(self, value: Any) -> float:
        if not _is_number(value) or not 0.0 <= float(value) <= 1.0:
            raise ControlError(f"strength must be a number between 0 and 1, got {value!r}")
        with self._lock:
            return self._apply(strength=float(value)).strength

    def adjust_strength(self, delta: float) -> float:
        with self._lock:
            value = min(1.0, max(0.0, round(self.pipeline.controls.strength + delta, 4)))
            return self._apply(strength=value).strength

    def set_finish(self, values: Any) -> FinishSettings:
        """Set the skin finish's ``strength`` and/or ``under_eye`` (each 0..1); one left out keeps its value."""
        if not isinstance(values, dict) or not values or set(values) - {"strength", "under_eye"}:
            raise ControlError(f"finish must be an object with strength and/or under_eye, got {values!r}")
        for key, value in values.items():
            if not _is_number(value) or not 0.0 <= float(value) <= 1.0:
                raise ControlError(f"finish {key} must be a number between 0 and 1, got {value!r}")
        with self._lock:
            current = asdict(self.pipeline.controls.finish) | {k: float(v) for k, v in values.items()}
            return self._apply(finish=FinishSettings(**current)).finish

    def set_edits(self, values: Any) -> ColorEdits:
        """Set some or all colour edits (each -1..1); the ones left out keep their current value."""
        with self._lock:
            try:
                edits = parse_edits(values, "edits", base=self.pipeline.controls.edits)
            except ProfileError as e:
                raise ControlError(str(e)) from None
            return self._apply(edits=edits).edits

    def adjust_edit(self, key: str, delta: float) -> ColorEdits:
        with self._lock:
            current = asdict(self.pipeline.controls.edits)
            if key not in current:
                raise ControlError(f"unknown colour edit {key!r}")
            current[key] = min(1.0, max(-1.0, round(current[key] + delta, 4)))
            return self._apply(edits=ColorEdits(**current)).edits

    def set_scene(self, values: Any) -> dict[str, Any]:
        """Change some of the scene settings (background, blur, grade, grade_strength, source); the
        ones left out keep their value. ``background`` null: the look's own. ``source`` names a file in
        the user's backgrounds folder (no paths from a request)."""
        if not isinstance(values, dict) or not values or set(values) - SCENE_KEYS:
            raise ControlError(f"scene takes an object with some of {', '.join(sorted(SCENE_KEYS))}")
        with self._lock:
            scene = self.pipeline.controls.scene
            changes: dict[str, Any] = {}
            if "background" in values:
                v = values["background"]
                if v is not None and v not in BACKGROUND_MODES:
                    raise ControlError(f"background must be null or one of {', '.join(BACKGROUND_MODES)}, got {v!r}")
                changes["background"] = v
            for key in ("blur", "grade_strength"):
                if key in values:
                    v = values[key]
                    if (v is not None or key == "blur") and (not _is_number(v) or not 0.0 <= float(v) <= 1.0):
                        raise ControlError(f"{key} must be a number between 0 and 1, got {v!r}")
                    changes[key] = None if v is None else float(v)
            if "grade" in values:
                if not isinstance(values["grade"], bool):
                    raise ControlError(f"grade must be true or false, got {values['grade']!r}")
                changes["grade"] = values["grade"]
            if "source" in values:
                changes["source"] = background_file(values["source"])
            new = replace(scene, **changes)
            if new.background == "replace" and new.source is None:
                raise ControlError("background replace needs a source: a file in " + str(user_backgrounds_dir()))
            return scene_state(self._apply(scene=new).scene)

    def set_paused(self, paused: Any) -> bool:
        if not isinstance(paused, bool):
            raise ControlError(f"paused must be true or false, got {paused!r}")
        with self._lock:
            return self._apply(paused=paused).paused

    def toggle_paused(self) -> bool:
        with self._lock:
            return self._apply(paused=not self.pipeline.controls.paused).paused

    def set_face(self, track_id: Any, enabled: Any) -> None:
        if isinstance(track_id, bool) or not isinstance(track_id, int) or not 0 <= track_id < 2**31:
            raise ControlError(f"face track id must be a non-negative integer, got {track_id!r}")
        if not isinstance(enabled, bool):
            raise ControlError(f"enabled must be true or false, got {enabled!r}")
        with self._lock:
            disabled = set(self.pipeline.controls.disabled_tracks)
            if enabled:
                disabled.discard(track_id)
            else:
                disabled.add(track_id)
                if len(disabled) > MAX_DISABLED_TRACKS:
                    raise ControlError(f"at most {MAX_DISABLED_TRACKS} faces can be switched off")
            self._apply(disabled_tracks=frozenset(disabled))

    # -- profiles ----------------------------------------------------------------------------------
    def _active_prefs(self, look: str):
        if self.active_profile is None:
            return None
        try:
            return self.profiles.get(self.active_profile).prefs(look)
        except ProfileError as e:  # deleted or broken meanwhile: forget it, keep going
            log.warning("profile '%s' is no longer usable: %s", self.active_profile, e)
            self.active_profile = None
            return None

    def save_profile(self, name: Any) -> Profile:
        try:
            check_profile_name(name)
            with self._lock:
                profile = self.profiles.save_controls(name, self.pipeline.controls)
                self.active_profile = profile.name
        except ProfileError as e:
            raise ControlError(str(e)) from None
        return profile

    def load_profile(self, name: Any) -> Profile:
        try:
            check_profile_name(name)
            profile = self.profiles.get(name)
        except ProfileError as e:
            raise (NotFound if "unknown profile" in str(e) else ControlError)(str(e)) from None
        self.find_look(profile.look)
        prefs = profile.prefs()
        with self._lock:
            self._apply(look=profile.look, strength=prefs.strength, edits=prefs.edits)
            self.active_profile = profile.name
        return profile

    def profile_names(self) -> list[str]:
        try:
            return self.profiles.names()
        except ProfileError as e:
            log.warning("%s", e)
            return []

    # -- state -------------------------------------------------------------------------------------
    def add_state_source(self, key: str, source: Callable[[], Any]) -> None:
        """Add ``key: source()`` to :meth:`state` (e.g. the OBS link's status); JSON values only."""
        self._state_sources[key] = source

    def remove_state_source(self, key: str) -> None:
        self._state_sources.pop(key, None)

    def fps(self) -> float:
        """Frames per second over the last couple of seconds (the stats' own number is since start)."""
        stats = self.pipeline.stats
        with self._fps_lock:
            now, frames = time.perf_counter(), stats.frames
            samples = self._fps_samples
            samples.append((now, frames))
            while len(samples) > 2 and now - samples[0][0] > FPS_WINDOW_S:
                samples.popleft()
            t0, f0 = samples[0]
        if now - t0 >= 0.2:
            return max(0.0, (frames - f0) / (now - t0))
        return stats.fps()

    def faces(self) -> list[dict[str, Any]]:
        """Tracked faces, each with its on/off flag, in track id order.

        A face stays listed for ``FACE_GRACE_S`` after it was last seen, so a missed detection or the
        frame between switching a face back on and styling it does not make it blink in the panel.
        """
        controls = self.pipeline.controls
        now = time.monotonic()
        with self._faces_lock:
            recent = self._recent_faces
            for f in list(self.pipeline.last_faces):
                recent[int(f.track_id)] = (now, {
                    "score": _finite(float(f.score)),
                    "box": [_finite(float(v)) for v in f.box],
                })
            for tid in [t for t, (seen, _) in recent.items() if now - seen > FACE_GRACE_S]:
                del recent[tid]
            listed = {tid: info for tid, (_, info) in recent.items()}
        faces = []
        for tid in sorted(set(listed) | set(controls.disabled_tracks)):
            enabled = tid not in controls.disabled_tracks
            # Switched-off faces are not styled, so the pipeline does not list them; show them anyway
            # so they can be switched back on (without a box: where they are is not known).
            info = listed.get(tid) if enabled else None
            faces.append({"track_id": tid, "enabled": enabled, "score": info["score"] if info else None,
                          "box": info["box"] if info else None})
        return faces

    def backend(self) -> str:
        try:
            return str(self.pipeline.runtime(self.pipeline.controls.look).translator.name)
        except Exception:  # noqa: BLE001 - a state query must never fail on this
            return "unknown"

    def state(self) -> dict[str, Any]:
        p = self.pipeline
        controls = p.controls
        stats = p.stats
        stages = {
            stage: {"p50": _finite(v["p50"]), "p99": _finite(v["p99"]), "n": v["n"]}
            for stage, v in stats.summary().items()
        }
        state = {
            "look": controls.look,
            "strength": controls.strength,
            "edits": asdict(controls.edits),
            "finish": asdict(controls.finish),
            "paused": controls.paused,
            "scene": scene_state(controls.scene),
            "backgrounds": background_names(),
            "faces": self.faces(),
            "fps": round(self.fps(), 2),
            "frames": stats.frames,
            "passthrough": stats.passthrough,
            "errors": dict(stats.errors),
            "stages": stages,
            "backend": self.backend(),
            "looks": [
                {
                    "name": lk.name,
                    "title": lk.title or lk.name,
                    "description": lk.description,
                    "author": lk.author,
                    "default_strength": lk.default_strength,
                    "has_preview": lk.preview_path is not None,
                }
                for lk in self.looks()
            ],
            "profile": self.active_profile,
            "profiles": self.profile_names(),
            "latency": stats.output_latency.summary(),
        }
        for key, source in list(self._state_sources.items()):
            try:
                state[key] = source()
            except Exception:  # noqa: BLE001 - a state query must never fail on an extra
                log.exception("state source %r failed", key)
        return state


SCENE_KEYS = {"background", "blur", "grade", "grade_strength", "source"}
MAX_BACKGROUNDS = 200


def background_file(name: Any) -> Path:
    """A file in the user's backgrounds folder, by name (a plain name: no folder parts)."""
    folder = user_backgrounds_dir()
    if not isinstance(name, str) or name != Path(name).name or name.startswith(".") or len(name) > 128:
        raise ControlError(f"source must be the name of a file in {folder}, got {name!r}")
    path = folder / name
    if path.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES or not path.is_file() or path.is_symlink():
        raise NotFound(f"no background image or video named {name!r} in {folder}")
    return path


def background_names() -> list[str]:
    folder = user_backgrounds_dir()
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and not p.is_symlink() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
    return names[:MAX_BACKGROUNDS]


def scene_state(scene: SceneControls) -> dict[str, Any]:
    return {"background": scene.background, "blur": scene.blur, "grade": scene.grade,
            "grade_strength": scene.grade_strength, "source": scene.source.name if scene.source else None}
