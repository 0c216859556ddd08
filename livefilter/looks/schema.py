"""Field checks for look.json: one small validator per kind of value, composed into a per-field schema.

A check is a function ``(value, key) -> parsed value`` that raises :class:`LookError` with a
one-line message naming the key. :class:`Field` ties a look.json key to its check, its default and
the :class:`~livefilter.looks.pack.Look` attribute it fills; adding a key to look.json is adding one
``Field`` to ``MANIFEST_FIELDS`` in :mod:`livefilter.looks.pack` (and the attribute to ``Look``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from livefilter.errors import LookError
from livefilter.infra.strict_json import StrictJSONError, check_tree
from livefilter.infra.terminal_text import has_unsafe_characters

log = logging.getLogger(__name__)

Check = Callable[[Any, str], Any]
MISSING: Any = object()
MAX_PATH_CHARS = 1024  # a whole path; each component is bounded by the filesystem's limit


@dataclass(frozen=True)
class Field:
    """One look.json key: its check, the default when absent, and the ``Look`` attribute it sets."""

    key: str
    check: Check
    default: Any = MISSING
    attr: str | None = None
    stored: bool = True  # False: checked only (e.g. the format version), not a Look attribute

    @property
    def target(self) -> str:
        return self.attr or self.key


def shown(value: Any, limit: int = 60) -> str:
    """A short, escaped rendering of an offending value for an error message."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def fail(key: str, expected: str, value: Any) -> LookError:
    return LookError(f"look.json: '{key}' must be {expected}, got {shown(value)}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(lo: float, hi: float) -> Check:
    """A finite number in [lo, hi] (int or float; not a bool), returned as float."""

    def check(v: Any, key: str) -> float:
        # Compare before converting: a 1000-digit integer must not overflow float().
        if not _is_number(v) or (isinstance(v, float) and not math.isfinite(v)) or not lo <= v <= hi:
            raise fail(key, f"a number in [{lo}, {hi}]", v)
        return float(v)

    return check


def integer(lo: int, hi: int, multiple_of: int = 1) -> Check:
    """An integer in [lo, hi] divisible by ``multiple_of`` (not a bool, not 128.0)."""

    def check(v: Any, key: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi or v % multiple_of:
            what = f"an integer in [{lo}, {hi}]" + (f" and a multiple of {multiple_of}" if multiple_of > 1 else "")
            raise fail(key, what, v)
        return v

    return check


def text(max_chars: int, *, multiline: bool = False) -> Check:
    """A string of at most ``max_chars`` without control characters (``multiline`` allows \\n, \\t)."""

    def check(v: Any, key: str) -> str:
        if not isinstance(v, str) or len(v) > max_chars:
            raise fail(key, f"a string of at most {max_chars} characters", v)
        if has_unsafe_characters(v, allow_newlines=multiline):
            raise fail(key, "text without control characters", v)
        return v

    return check


def matching(pattern: re.Pattern[str], what: str) -> Check:
    def check(v: Any, key: str) -> str:
        if not isinstance(v, str) or not pattern.fullmatch(v):
            raise fail(key, what, v)
        return v

    return check


def optional(inner: Check) -> Check:
    """``None`` or whatever ``inner`` accepts."""

    def check(v: Any, key: str) -> Any:
        return None if v is None else inner(v, key)

    return check


def check_member_path(name: Any) -> PurePosixPath:
    """A relative path that stays inside the pack (no absolute paths, no '..', no drive letters)."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_PATH_CHARS
        or "\\" in name
        or has_unsafe_characters(name)
    ):
        raise LookError(f"invalid path in look pack: {shown(name)}")
    p = PurePosixPath(name)
    if not p.parts:  # "." names no file
        raise LookError(f"invalid path in look pack: {shown(name)}")
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise LookError(f"path escapes the look pack: {shown(name)}")
    return p


def member_path(v: Any, key: str) -> str:
    """A file inside the pack (see :func:`check_member_path`), kept as the string look.json gave."""
    try:
        check_member_path(v)
    except LookError as e:
        raise LookError(f"look.json: '{key}': {e}") from None
    return v


def number_list(min_len: int, max_len: int, lo: float, hi: float) -> Check:
    """A list of ``min_len``..``max_len`` finite numbers in [lo, hi], returned as floats."""
    each = number(lo, hi)

    def check(v: Any, key: str) -> list[float]:
        if not isinstance(v, list) or not min_len <= len(v) <= max_len:
            count = f"{min_len}" if min_len == max_len else f"{min_len}..{max_len}"
            raise fail(key, f"a list of {count} numbers in [{lo}, {hi}]", v)
        return [each(x, f"{key}[{i}]") for i, x in enumerate(v)]

    return check


def json_object(v: Any, key: str) -> dict[str, Any]:
    """Free-form JSON object (training summary, metrics): bounded nesting, finite numbers only."""
    if not isinstance(v, dict):
        raise fail(key, "an object", v)
    try:
        check_tree(v)
    except StrictJSONError as e:
        raise LookError(f"look.json: '{key}': {e}") from None
    return dict(v)


def obj(fields: Mapping[str, tuple[Check, Any]], *, unknown: str = "reject") -> Check:
    """An object with the sub-keys ``fields`` (sub-key -> (check, default); ``MISSING`` = required).

    Returns a dict of every sub-key, defaults filled in. ``unknown="reject"`` makes any other
    sub-key an error (a closed set such as the colour edits, where a typo must not pass silently);
    ``"ignore"`` drops them with a debug log.
    """
    if unknown not in ("reject", "ignore"):
        raise ValueError(f"unknown must be 'reject' or 'ignore', not {unknown!r}")

    def check(v: Any, key: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise fail(key, "an object", v)
        extra = v.keys() - fields.keys()
        if extra and unknown == "reject":
            raise LookError(
                f"look.json: '{key}' may only hold {', '.join(fields)} (unexpected {shown(sorted(map(str, extra)))})"
            )
        for k in extra:
            log.debug("look.json: ignoring unknown key %r in %r", k, key)
        parsed = {}
        for sub, (sub_check, default) in fields.items():
            if sub not in v:
                if default is MISSING:
                    raise LookError(f"look.json: '{key}.{sub}' is required")
                parsed[sub] = default
            else:
                parsed[sub] = sub_check(v[sub], f"{key}.{sub}")
        return parsed

    return check


def null_as_empty(inner: Check) -> Check:
    """``inner``, but an explicit ``null`` counts as an empty object (``"edits": null`` = no edits)."""

    def check(v: Any, key: str) -> Any:
        return inner({} if v is None else v, key)

    return check
