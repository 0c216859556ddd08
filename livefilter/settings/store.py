"""The one settings store: a JSON file livefilter owns, read strictly and written atomically.

Profiles (``profiles.json``), the user settings (``config.json``: the control port and token, the OBS
scene mapping) and the control files of a running ``livefilter run`` (``control*.json``) are all a
:class:`JsonFile`: read through :func:`livefilter.infra.strict_json.read_regular` (regular files
only, size checked first, no NaN, bounded nesting), changed under one lock per file kind, written to
a temporary file renamed into place (``private``: mode 0600 from the first byte, for the token). A
corrupt file is reported with one line and never overwritten; the settings file, when it is a
symbolic link (a dotfiles link), is written through (``through_links``), never replaced.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable

from livefilter.errors import OutputError, SettingError
from livefilter.infra.atomic import write_text
from livefilter.infra.terminal_text import printable
from livefilter.infra import strict_json

_LOCKS: dict[str, threading.Lock] = {}


class JsonFile:
    """One settings file; every read re-reads it, so changes by another process are seen."""

    def __init__(self, path: Path | Callable[[], Path], *, what: str, max_bytes: int,
                 error: type[SettingError] = SettingError, private: bool = False, through_links: bool = False) -> None:
        """``path``: the file, or a function giving it (resolved on use, so ``LIVEFILTER_HOME`` set later
        counts); ``what`` names it in messages ("profiles file"); ``error`` is the one-line error raised."""
        self._path = path
        self.what, self.max_bytes, self.error, self.private = what, max_bytes, error, private
        self.through_links = through_links
        self.lock = _LOCKS.setdefault(what, threading.Lock())  # one writer per kind of file in this process

    @property
    def path(self) -> Path:
        return Path(self._path() if callable(self._path) else self._path)

    def read(self) -> Any | None:
        """The file's JSON value, or None when there is no file."""
        path = self.path
        try:
            raw = strict_json.read_regular(path, self.max_bytes)
        except FileNotFoundError:
            return None
        except strict_json.UnreadableFile as e:
            raise self.error(f"cannot read {self.what} '{printable(path)}': {e}") from None
        try:
            return strict_json.loads(raw)
        except strict_json.StrictJSONError as e:
            raise self.error(f"{self.what} '{printable(path)}' is not valid JSON ({e}); fix or delete it") from None

    def write(self, data: Any, *, indent: int | None = 2) -> Path:
        """Write ``data`` as JSON atomically (``through_links``: to the file a symbolic link points to)."""
        path = self.path
        if self.through_links and path.is_symlink():
            path = path.resolve()
        text = json.dumps(data, indent=indent, ensure_ascii=False) + ("\n" if indent is not None else "")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text(path, text, private=self.private)
        except OSError as e:
            raise self.error(f"cannot write {self.what} '{printable(path)}': {e.strerror or e}") from None
        except OutputError as e:
            raise self.error(f"{self.what} not saved: {e}") from None
        return path

    def update(self, change: Callable[[Any | None], Any]) -> Any:
        """Read, change and write back under the lock; ``change`` validates (raising) before anything
        is written, so a bad change or a corrupt file leaves the file as it was."""
        with self.lock:
            data = change(self.read())
            self.write(data)
        return data
