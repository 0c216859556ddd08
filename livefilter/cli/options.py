"""Options declared once for the commands that share them (``run``, ``demo``, ``bench``).

Each is an ``Annotated`` type: ``look: LookOption = None``. The backend help derives from the
backend registry (``translate/backends.py``) when the command module is imported.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from livefilter.translate import backends

LookOption = Annotated[Optional[str], typer.Option(
    "--look", "-l", help="Look name (see `livefilter looks list`) or a look folder / .lfpack (default: the default look).")]
BackendOption = Annotated[str, typer.Option("--backend", help=backends.help_text())]
BackgroundOption = Annotated[Optional[str], typer.Option(
    "--background", help="Background behind the person: keep, blur or replace (default: the look's own, else keep).")]
BlurOption = Annotated[float, typer.Option("--blur", help="Background blur (bokeh) strength 0..1.")]
BackgroundFileOption = Annotated[Optional[str], typer.Option(
    "--background-file", help="Image or looping video for --background replace.")]
GradeOption = Annotated[bool, typer.Option("--grade/--no-grade", help="Apply the look's colour grade, if it has one.")]
GradeStrengthOption = Annotated[Optional[float], typer.Option(
    "--grade-strength", help="Colour grade strength 0..1 (default: the look's own).")]
