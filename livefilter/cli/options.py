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
