"""Looks that follow OBS scenes: the user's scene -> look mapping and the scenes that pause the look.

Only what the mapping names is touched: a scene it does not know keeps the current look, and a
pause this class did not make (the streamer's own, from the panel or a hotkey) is never lifted.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from livefilter.control.controller import ControlError, Controller
from livefilter.settings.userconfig import ObsSettings

log = logging.getLogger(__name__)


class SceneLooks:
    def __init__(self, controller: Controller, settings: ObsSettings,
                 notify: Callable[[str], None] | None = None) -> None:
        self.controller = controller
        self.settings = settings
        self.notify = notify or (lambda msg: log.warning("%s", msg))
        self._paused_by_scene = False
        self._lock = threading.Lock()
        self._reported: set[str] = set()

    def on_scene(self, scene: str) -> None:
        with self._lock:
            self._apply(scene)

    def _background(self, scene: str) -> None:
        """The scene's background (blur, replace, keep), when the mapping names one."""
        bg = self.settings.scene_backgrounds.get(scene)
        if bg is None:
            return
        change = {"background": bg["background"], "blur": bg.get("blur", 0.6)}
        if bg.get("source"):
            change["source"] = bg["source"]
        try:
            self.controller.set_scene(change)
            log.info("scene %r: background %s", scene, bg["background"])
        except ControlError as e:  # a background file removed since it was mapped: say so once
            if scene not in self._reported:
                self._reported.add(scene)
                self.notify(f"OBS scene {scene!r}: {e}")

    def _apply(self, scene: str) -> None:
        ctl = self.controller
        if scene in self.settings.pause_scenes:
            if not ctl.pipeline.controls.paused:
                ctl.set_paused(True)
                self._paused_by_scene = True
                log.info("scene %r: look paused", scene)
            return
        if self._paused_by_scene:
            self._paused_by_scene = False
            if ctl.pipeline.controls.paused:
                ctl.set_paused(False)
        self._background(scene)
        look = self.settings.scene_looks.get(scene)
        if look is None or ctl.pipeline.controls.look == look:
            return
        try:
            ctl.set_look(look)
            log.info("scene %r: look %s", scene, look)
        except ControlError as e:  # a look uninstalled since it was mapped: say so once, keep going
            if look not in self._reported:
                self._reported.add(look)
                self.notify(f"OBS scene {scene!r}: {e}")
