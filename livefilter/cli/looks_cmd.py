"""``livefilter looks``: list, show, install, remove and pack looks."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from livefilter.infra.atomic import check_target
from livefilter.cli import app
from livefilter.cli.common import message, out, plain
from livefilter.looks.pack import load_look
from livefilter.looks.registry import LookRegistry, make_pack
from livefilter.infra.paths import PACKAGED_LOOKS_DIR

looks_app = typer.Typer(help="Manage looks: list, show, install, remove, pack.", no_args_is_help=True)
app.add_typer(looks_app, name="looks")


@looks_app.command("list")
def list_looks() -> None:
    """Installed looks (packaged and your own)."""
    reg = LookRegistry()
    t = Table(title="looks", expand=False)
    # the short columns never wrap; title and description take the rest of the terminal's width and wrap
    # between words (never cut: a description is read in full)
    for col in ("name", "size", "strength", "source"):
        t.add_column(col, no_wrap=True)
    t.add_column("title", ratio=1, min_width=12)
    t.add_column("description", ratio=3, min_width=20)
    for look in reg.list():
        src = "built-in" if look.root.parent == PACKAGED_LOOKS_DIR else "user"
        # Titles and descriptions come from the pack: shown as plain text, never as markup.
        t.add_row(plain(look.name), str(look.input_size), f"{look.default_strength:.2f}", src, plain(look.title),
                  plain(look.description))
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


PREVIEW_WORK_SIDE = 1280  # photos are styled at most this large
PREVIEW_TILE_WIDTH = 224  # each face's panel in the gallery
PREVIEW_FACES = 6  # at most this many faces (columns)


def face_square(face, shape) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): a square around one face's box with room for hair and chin, inside the image."""
    x0, y0, x1, y1 = (float(v) for v in face.box)
    side = 1.6 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = shape[:2]
    return (int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0)), int(min(cx + side / 2, w)),
            int(min(cy + side / 2, h)))


def preview_tile(image, region: tuple[int, int, int, int], label: str):
    import cv2

    x0, y0, x1, y1 = region
    crop = image[y0:y1, x0:x1]
    s = PREVIEW_TILE_WIDTH / crop.shape[1]
    tile = cv2.resize(crop, (PREVIEW_TILE_WIDTH, max(1, round(crop.shape[0] * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    for colour, width in (((0, 0, 0), 4), ((255, 255, 255), 2)):
        cv2.putText(tile, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, width, cv2.LINE_AA)
    return tile


def tile_grid(tiles: list, columns: int):
    import numpy as np

    h, w = max(t.shape[0] for t in tiles), tiles[0].shape[1]
    blank = np.full((h, w, 3), 255, np.uint8)
    padded = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]
    padded += [blank] * (-len(padded) % columns)
    rows = [np.concatenate(padded[i:i + columns], axis=1) for i in range(0, len(padded), columns)]
    return np.concatenate(rows, axis=0)


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

    from livefilter.demo.clip import load_rgb, save_rgb
    from livefilter.demo.sample_media import group_photo_path
    from livefilter.pipeline.session import PipelineSettings, build_pipeline

    reg = LookRegistry()
    check_target(output, overwrite=overwrite)  # before the work, not after it
    image = load_rgb(photo or group_photo_path())
    scale = PREVIEW_WORK_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    names = [name] if name else reg.names()
    styled, regions = [], None
    for n in names:
        p = build_pipeline(PipelineSettings(look=n, max_faces=8, detect_every=1), reg)
        result = p.process(image.copy())
        if not p.last_faces:
            from livefilter.errors import InputError

            raise InputError(f"no face found in {photo or 'the demo photo'}")
        regions = regions or [face_square(f, image.shape) for f in p.last_faces[:PREVIEW_FACES]]
        styled.append((n, result))
    # the faces large: a row per look (the first one before), a column per face, the same crops in every row
    rows = [[preview_tile(img, r, label if j == 0 else "") for j, r in enumerate(regions)]
            for label, img in [("before", image)] + styled]
    save_rgb(output, tile_grid([t for row in rows for t in row], len(regions)), overwrite=overwrite)
    out.print(message("wrote ", output, f" ({len(names)} look(s))"))
