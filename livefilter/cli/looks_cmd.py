"""``livefilter looks``: list, show, install, remove and pack looks."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from livefilter.atomic import check_target
from livefilter.cli import app
from livefilter.cli.common import message, out, plain
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
        # Titles and descriptions come from the pack: shown as plain text, never as markup.
        t.add_row(plain(look.name), plain(look.title), str(look.input_size), f"{look.default_strength:.2f}", src,
                  plain(look.description[:60]))
    out.print(t)


@looks_app.command("show")
def show(name: str = typer.Argument(..., help="Look name.")) -> None:
    """Everything look.json says about a look (metrics, training summary)."""
    look = LookRegistry().get(name)
    out.print_json(json.dumps(look.manifest()), ensure_ascii=True)  # JSON escapes every control character
    out.print(message("folder: ", look.root))


@looks_app.command("install")
def install(
    pack: Path = typer.Argument(..., help="A .lfpack file or a look folder."),
    replace: bool = typer.Option(False, "--replace", help="Replace an installed look of the same name."),
) -> None:
    """Validate a look pack and install it into your looks folder."""
    look = LookRegistry().install(pack, replace=replace)
    out.print(message("installed ", plain(look.name, "cyan"), " into ", look.root))


@looks_app.command("remove")
def remove(name: str = typer.Argument(..., help="Look name.")) -> None:
    """Remove one of your installed looks."""
    path = LookRegistry().remove(name)
    out.print(message("removed ", path))


@looks_app.command("pack")
def pack(
    folder: Path = typer.Argument(..., help="A look folder."),
    output: Path = typer.Option(None, "--output", "-o", help="Where the .lfpack goes (default: NAME.lfpack)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Zip a look folder into a shareable .lfpack (validated first)."""
    look = load_look(folder)
    target = make_pack(folder, output or Path(f"{look.name}.lfpack"), overwrite=overwrite)
    out.print(message("wrote ", target))


@looks_app.command("preview")
def preview(
    name: str = typer.Argument(None, help="Look name (default: every installed look)."),
    photo: Path = typer.Option(None, "--photo", help="Your own photo (default: the bundled group photo)."),
    output: Path = typer.Option(Path("looks_preview.png"), "--output", "-o", help="Where the gallery PNG goes."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Render a before/after gallery of looks on your photo (or the demo photo)."""
    import cv2
    import numpy as np

    from livefilter.demo import load_rgb, save_rgb
    from livefilter.detect.sample_media import group_photo_path
    from livefilter.session import PipelineSettings, build_pipeline

    reg = LookRegistry()
    check_target(output, overwrite=overwrite)  # before the work, not after it
    image = load_rgb(photo or group_photo_path())
    scale = 640 / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    names = [name] if name else reg.names()
    tiles = [image]
    for n in names:
        p = build_pipeline(PipelineSettings(look=n, max_faces=8, detect_every=1), reg)
        styled = p.process(image.copy())
        if not p.last_faces:
            from livefilter.errors import InputError

            raise InputError(f"no face found in {photo or 'the demo photo'}")
        cv2.putText(styled, n, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(styled)
    save_rgb(output, np.concatenate(tiles, axis=1), overwrite=overwrite)
    out.print(message("wrote ", output, f" ({len(names)} look(s))"))
