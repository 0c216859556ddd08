"""Live control for streamers: a local HTTP API + control panel page, and preview-window hotkeys.

``start_control_server(pipeline, registry, preview=tap)`` serves the panel on 127.0.0.1 (a free port,
a random token); ``hotkey_handler(pipeline, registry)`` is the preview window's ``on_key``. Both change
the pipeline through one :class:`Controller`, i.e. through ``Pipeline.update()``, so every change
takes effect on the next processed frame. See livefilter/control/API.md.
"""

from livefilter.control.controller import ControlError, Controller, NotFound
from livefilter.control.hotkeys import HOTKEYS_HELP, hotkey_handler
from livefilter.control.preview import PreviewTap
from livefilter.control.server import ControlServer, start_control_server

__all__ = [
    "ControlError",
    "ControlServer",
    "Controller",
    "HOTKEYS_HELP",
    "NotFound",
    "PreviewTap",
    "hotkey_handler",
    "start_control_server",
]
