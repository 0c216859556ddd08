"""Helpers shared by the CLI commands."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from livefilter.infra import signals
from livefilter.errors import LivefilterError, SettingError
from livefilter.infra.terminal_text import printable
from livefilter.types import ColorEdits

out = Console()


def plain(text: object, style: str = "", *, keep_newlines: bool = False) -> Text:
    """``text`` exactly as written: never read as rich markup, control characters shown escaped.

    Use it for anything not written by us (look titles, descriptions, file names) and for our own
    messages that may hold brackets (``livefilter[gpu]``, a regex), which markup would eat.
    """
    return Text(printable(text, keep_newlines=keep_newlines), style=style)


def message(*parts: object) -> Text:
    """One line from pieces: a ``Text`` piece keeps its style, anything else is shown as :func:`plain`."""
    return Text.assemble(*(p if isinstance(p, Text) else plain(p) for p in parts))


def error_line(error: BaseException) -> Text:
    """The one red line a user error becomes."""
    return message(Text("error: ", style="bold red"), error)


def edits_from_options(brightness: float | None, contrast: float | None, saturation: float | None,
                       warmth: float | None) -> ColorEdits | None:
    if all(v is None for v in (brightness, contrast, saturation, warmth)):
        return None
    for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation), ("warmth", warmth)):
        if v is not None and not -1.0 <= v <= 1.0:
            raise SettingError(f"--{name} must be between -1 and 1, got {v}")
    return ColorEdits(brightness or 0.0, contrast or 0.0, saturation or 0.0, warmth or 0.0)


def stop_on_signals():
    """An Event set by Ctrl-C / SIGTERM, so the run loop ends cleanly and outputs are finalised
    (a second signal leaves at once); see :mod:`livefilter.infra.signals`."""
    return signals.deferred()


# -- training commands (need the training extra) ------------------------------------------------


def need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise LivefilterError("training needs PyTorch: pip install 'livefilter[train]'") from None


def default_data() -> Path:
    return Path(os.environ.get("LIVEFILTER_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))


def progress_bar():
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[info]}"), console=out)
