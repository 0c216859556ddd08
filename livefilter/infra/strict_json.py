"""Strict JSON for files a user or a look pack hands us (look.json, profiles.json, config.json), and
the bounded reader every settings file goes through (:func:`read_regular`).

The standard parser accepts ``NaN``/``Infinity``, turns ``1e400`` into infinity, raises
``RecursionError`` on deep nesting and ``ValueError`` on integers longer than 4300 digits. Every one
of those becomes a :class:`StrictJSONError` with a one-line reason here, and the nesting depth is
bounded well below the interpreter's recursion limit so the result is safe to walk and print.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

MAX_DEPTH = 32


class StrictJSONError(ValueError):
    """The text is not JSON this project accepts; the message says why in one line."""


def _reject_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not allowed (numbers must be finite)")


def _reject_non_finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"the number {text[:20]} is out of range")
    return value


def check_tree(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`StrictJSONError` if ``value`` nests deeper than ``max_depth`` or holds a
    non-finite float. Iterative, so it never hits the recursion limit itself."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise StrictJSONError("numbers must be finite (no NaN or Infinity)")
        if isinstance(v, (dict, list)):
            if depth > max_depth:
                raise StrictJSONError(f"nested deeper than {max_depth} levels")
            children = v.values() if isinstance(v, dict) else v
            stack.extend((c, depth + 1) for c in children)


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text``; any problem is a :class:`StrictJSONError`."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_reject_non_finite)
    except StrictJSONError:
        raise
    except UnicodeDecodeError as e:
        raise StrictJSONError(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise StrictJSONError(f"nested deeper than {max_depth} levels") from None
    except ValueError as e:  # JSONDecodeError, or an integer too long to convert
        raise StrictJSONError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    check_tree(value, max_depth)
    return value


class UnreadableFile(ValueError):
    """A settings file that is not a readable regular file of a sane size; the message says why."""


def read_regular(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a settings file, never more than ``max_bytes``: a regular file only (a link to one is
    followed), checked before reading, so a link to ``/dev/zero`` or a FIFO is refused instead of eating
    memory or hanging. A missing file raises ``FileNotFoundError`` (callers have a default); every other
    problem is an :class:`UnreadableFile` with a one-line reason."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: opening a FIFO with no writer must not hang
    except FileNotFoundError:
        raise
    except OSError as e:
        raise UnreadableFile(e.strerror or str(e)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile("not a regular file")
        if st.st_size > max_bytes:
            raise UnreadableFile(f"too large ({st.st_size} bytes; at most {max_bytes})")
        data = bytearray()
        while len(data) <= max_bytes:
            block = os.read(fd, min(65536, max_bytes + 1 - len(data)))
            if not block:
                break
            data += block
        if len(data) > max_bytes:  # grew while being read
            raise UnreadableFile(f"too large (more than {max_bytes} bytes)")
        return bytes(data)
    except OSError as e:
        raise UnreadableFile(e.strerror or str(e)) from None
    finally:
        os.close(fd)
