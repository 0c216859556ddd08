"""User-facing errors.

Every error a user can cause (bad file, bad setting, missing camera, corrupt look) is raised as a
:class:`LivefilterError`. The CLI prints its message on one line and exits non-zero; nothing else
should ever reach a user as a traceback.
"""

from __future__ import annotations


class LivefilterError(Exception):
    """An error with a message fit to show a user on one line."""

    exit_code = 2


class InputError(LivefilterError):
    """The input (camera, file, stream URL) cannot be opened or decoded."""


class OutputError(LivefilterError):
    """The output (virtual camera, file, RTMP) cannot be opened or written."""


class LookError(LivefilterError):
    """A look pack is missing, corrupt or fails validation."""


class ModelError(LivefilterError):
    """A model file (ONNX, engine, checkpoint) is unusable."""


class SettingError(LivefilterError):
    """A setting is out of range or malformed."""


class BackendUnavailable(LivefilterError):
    """A translator backend cannot run on this machine (the reason is the message)."""
