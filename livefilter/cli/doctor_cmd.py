"""``livefilter doctor``."""

from __future__ import annotations

from rich.table import Table

from livefilter.cli import app
from livefilter.cli.common import out, plain


@app.command()
def doctor() -> None:
    """Check cameras, virtual camera, GPU/driver, engine backends and the engine cache."""
    from livefilter.cli.doctor import run_checks

    t = Table(title="livefilter doctor")
    for col in ("area", "check", "", "detail"):
        t.add_column(col)
    for c in run_checks():
        t.add_row(c.area, c.name, "[green]ok[/]" if c.ok else "[yellow]no[/]", plain(c.detail))
    out.print(t)
