"""Text from outside (look titles, file names, error details) made safe to show on a terminal.

Control characters (ESC sequences that clear the screen or set window titles, 8-bit CSI, carriage
returns that overwrite a line, bidirectional overrides that reorder it) are replaced by visible
escapes such as ``\\x1b``; everything else, brackets included, is kept as it is. Rich markup is a
separate matter: print the result as a ``rich.text.Text`` (see :mod:`livefilter.cli.common`), never
as a markup string.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, zero-width and bidi formatting characters, line/paragraph separators,
# interlinear annotations and the byte-order mark.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` as a string with every control/formatting character shown as an escape.

    ``keep_newlines`` keeps ``\\n`` and ``\\t`` (for multi-line descriptions); by default the
    result is always one line.
    """
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    return pattern.sub(_visible, str(text))


def shortened(text: object, limit: int = 80) -> str:
    """:func:`printable` text cut to ``limit`` characters (an ellipsis and the original length when cut):
    for names that come from another program (OBS scene and input names), which may be any length."""
    shown = printable(text)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… ({len(str(text))} characters)"


def has_unsafe_characters(text: str, *, allow_newlines: bool = False) -> bool:
    """Whether :func:`printable` would change ``text``."""
    return (_UNSAFE_KEEP_LINES if allow_newlines else _UNSAFE).search(text) is not None


def listed(choices: tuple[str, ...]) -> str:
    """``a, b or c`` for messages and help."""
    if not choices:
        return "(none)"
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
