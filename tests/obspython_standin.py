"""A stand-in for OBS's ``obspython`` module that records what a script registers and calls.

It models the parts of the real API a hotkey script uses: ``obs_hotkey_register_frontend(name,
description, callback)`` returns a hotkey id and OBS later calls ``callback(pressed)`` on key down
(True) and key up (False); saved key bindings come and go as ``obs_data_array`` handles that must
be released; ``script_log(level, text)`` writes to the script log. :meth:`press` plays OBS's part.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Callable

LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG = 100, 200, 300, 400
OBS_TEXT_DEFAULT, OBS_TEXT_PASSWORD, OBS_TEXT_MULTILINE = 0, 1, 2


@dataclass
class Hotkey:
    id: int
    name: str
    description: str
    callback: Callable[[bool], None]
    bindings: list = field(default_factory=list)
    registered: bool = True


@dataclass
class DataArray:
    items: list
    released: bool = False


class ObsPythonStandIn:
    def __init__(self) -> None:
        self.hotkeys: dict[int, Hotkey] = {}
        self.log: list[tuple[int, str]] = []
        self.calls: list[tuple[str, tuple]] = []
        self.arrays: list[DataArray] = []
        self.properties: list[dict[str, Any]] = []
        self._next_id = 1

    def module(self) -> types.ModuleType:
        m = types.ModuleType("obspython")
        for name in ("LOG_ERROR", "LOG_WARNING", "LOG_INFO", "LOG_DEBUG", "OBS_TEXT_DEFAULT", "OBS_TEXT_PASSWORD",
                     "OBS_TEXT_MULTILINE"):
            setattr(m, name, globals()[name])
        for name in ("obs_hotkey_register_frontend", "obs_hotkey_unregister", "obs_hotkey_load", "obs_hotkey_save",
                     "obs_data_get_array", "obs_data_set_array", "obs_data_array_release", "obs_data_get_string",
                     "obs_properties_create", "obs_properties_add_text", "script_log"):
            setattr(m, name, self._recorded(name, getattr(self, name)))
        return m

    def _recorded(self, name: str, fn: Callable) -> Callable:
        def call(*args):
            self.calls.append((name, args))
            return fn(*args)
        return call

    # -- hotkeys -----------------------------------------------------------------------------------------
    def obs_hotkey_register_frontend(self, name: str, description: str, callback) -> int:
        assert isinstance(name, str) and isinstance(description, str) and callable(callback)
        hk = Hotkey(self._next_id, name, description, callback)
        self._next_id += 1
        self.hotkeys[hk.id] = hk
        return hk.id

    def obs_hotkey_unregister(self, hotkey_id: int) -> None:
        self.hotkeys[hotkey_id].registered = False

    def obs_hotkey_load(self, hotkey_id: int, array: DataArray) -> None:
        assert not array.released
        self.hotkeys[hotkey_id].bindings = list(array.items)

    def obs_hotkey_save(self, hotkey_id: int) -> DataArray:
        arr = DataArray(list(self.hotkeys[hotkey_id].bindings))
        self.arrays.append(arr)
        return arr

    def press(self, name: str) -> None:
        """What OBS does when the bound key goes down and up."""
        hk = next(h for h in self.hotkeys.values() if h.name == name and h.registered)
        hk.callback(True)
        hk.callback(False)

    # -- settings data -------------------------------------------------------------------------------------
    def obs_data_get_array(self, settings: dict, name: str) -> DataArray:
        arr = DataArray(list(settings.get(name, [])))
        self.arrays.append(arr)
        return arr

    def obs_data_set_array(self, settings: dict, name: str, array: DataArray) -> None:
        assert not array.released
        settings[name] = list(array.items)

    def obs_data_array_release(self, array: DataArray) -> None:
        assert not array.released, "released twice"
        array.released = True

    def obs_data_get_string(self, settings: dict, name: str) -> str:
        return str(settings.get(name, ""))

    def obs_properties_create(self) -> list:
        return []

    def obs_properties_add_text(self, props: list, name: str, description: str, kind: int) -> dict:
        prop = {"name": name, "description": description, "kind": kind}
        props.append(prop)
        self.properties.append(prop)
        return prop

    def script_log(self, level: int, text: str) -> None:
        self.log.append((level, text))
