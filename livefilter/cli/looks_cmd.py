"""``livefilter looks``: list, show, install, remove and pack looks."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from livefilter.cli import app
from livefilter.cli.common import out
from livefilter.looks.pack import load_look
from livefilter.looks.registry import LookRegistry, make_pack
from livefilter.paths import PACKAGED_LOOKS_DIR

looks_app = typer.Typer(help="Manage looks: list, show, install, remove, pack.", no_args_is_help=True)
app.add_typer(looks_app, name="looks")


@looks_app.command("list")
def list_looks() -> None:
    """Installed looks (packaged and your own)."""
    reg = LookRegistry()
    t = Table(title="looks")
    for col in ("name", "title", "size", "strength", "source", "description"):
        t.add_column(col)
    for look in reg.list():
        src = "built-in" if look.root.parent == PACKAGED_LOOKS_DIR else "user"
        t.add_row(look.name, look.title, str(look.input_size), f"{look.default_strength:.2f}", src,
                  look.description[:60])
    out.print(t)


@looks_app.command("show")
def show(name: str = typer.Argument(..., help="Look name.")) -> None:
    """Everything look.json says about a look (metrics, training summary)."""
    look = LookRegistry().get(name)
    out.print_json(json.dumps(look.manifest()))
    out.print(f"folder: {look.root}")


@looks_app.command("install")
def install(
    pack: Path = typer.Argument(..., help="A .lfpack file or a look folder."),
    replace: bool = typer.Option(False, "--replace", help="Replace an installed look of the same name."),
) -> None:
    """Validate a look pack and install it into your looks folder."""
    look = LookRegistry().install(pack, replace=replace)
    out.print(f"installed [cyan]{look.name}[/] into {look.root}")


@looks_app.command("remove")
def remove(name: str = typer.Argument(..., help="Look name.")) -> None:
    """Remove one of your installed looks."""
    path = LookRegistry().remove(name)
    out.print(f"removed {path}")


@looks_app.command("pack")
def pack(
    folder: Path = typer.Argument(..., help="A look folder."),
    output: Path = typer.Option(None, "--output", "-o", help="Where the .lfpack goes (default: NAME.lfpack)."),
) -> None:
    """Zip a look folder into a shareable .lfpack (validated first)."""
    look = load_look(folder)
    target = make_pack(folder, output or Path(f"{look.name}.lfpack"))
    out.print(f"wrote {target}")
