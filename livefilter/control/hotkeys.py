"""Keyboard shortcuts for the preview window (``livefilter run --output preview``).

=========  ===============================================================
key        action
=========  ===============================================================
1 … 9      switch to the 1st … 9th installed look (``livefilter looks list`` order)
+ or =     strength +0.1
- or _     strength −0.1
space      pause / resume the look (the camera keeps going out unfiltered)
b / B      brightness +0.1 / −0.1
c / C      contrast +0.1 / −0.1
s / S      saturation +0.1 / −0.1
w / W      warmth (colour temperature) +0.1 / −0.1
0          reset the four colour edits to 0
q or Esc   close the preview (handled by the preview window itself)
=========  ===============================================================

Lower case raises a colour edit, upper case (Shift) lowers it. A key never raises out of the handler:
a rejected change is logged and the stream goes on.
"""

from __future__ import annotations

import logging
from typing import Callable

from livefilter.control.controller import Controller
from livefilter.errors import LivefilterError

log = logging.getLogger(__name__)

STEP = 0.1
EDIT_KEYS = {"b": "brightness", "c": "contrast", "s": "saturation", "w": "warmth"}

HOTKEYS_HELP = (
    "keys: 1-9 look · +/- strength · space pause · b/c/s/w raise brightness/contrast/saturation/warmth "
    "(Shift lowers) · 0 reset colours · q quit"
)


def hotkey_handler(pipeline, registry=None) -> Callable[[str], None]:
    """An ``on_key(char)`` callback for the preview sink that changes ``pipeline`` live."""
    controller = Controller.for_pipeline(pipeline, registry)

    def on_key(key: str) -> None:
        if not isinstance(key, str) or len(key) != 1:
            return
        try:
            if "1" <= key <= "9":
                name = controller.look_by_index(int(key) - 1)
                if name is not None:
                    log.info("look: %s", name)
            elif key in "+=":
                controller.adjust_strength(STEP)
            elif key in "-_":
                controller.adjust_strength(-STEP)
            elif key == " ":
                controller.toggle_paused()
            elif key.lower() in EDIT_KEYS:
                controller.adjust_edit(EDIT_KEYS[key.lower()], STEP if key.islower() else -STEP)
            elif key == "0":
                controller.set_edits(dict.fromkeys(EDIT_KEYS.values(), 0.0))
        except LivefilterError as e:
            log.warning("hotkey %r: %s", key, e)
        except Exception:  # noqa: BLE001 - a key press must never stop the stream
            log.exception("hotkey %r failed", key)

    return on_key


__all__ = ["hotkey_handler", "HOTKEYS_HELP"]
