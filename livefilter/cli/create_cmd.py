"""``livefilter looks create NAME --from FOLDER|PHOTOS...``: a look from your own photos (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from livefilter.cli.common import out
from livefilter.cli.looks_cmd import looks_app
from livefilter.errors import SettingError


def parse_regions(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if not parts:
        raise SettingError("--regions needs at least one region, e.g. --regions lips,cheeks")
    return parts


@looks_app.command("create")
def create(
    name: str = typer.Argument(..., help="Name of the new look (lower-case letters, digits, '-' and '_')."),
    photos: list[Path] = typer.Option(..., "--from", help="A folder of photos, or photo files."),
    more: list[Path] = typer.Argument(None, help="More photo files (so `--from a.jpg b.jpg c.jpg` works).",
                                      show_default=False),
    title: str = typer.Option("", "--title", help="Title shown in the gallery (default: from the name)."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0, help="Default strength 0..1."),
    regions: str = typer.Option(None, "--regions", help="Only change these regions: lips,eyes,cheeks (comma list)."),
    finetune: float = typer.Option(0.0, "--finetune", min=0.0, help="Minutes of fine-tuning the look code (CPU)."),
    keep_thumbnails: bool = typer.Option(False, "--keep-thumbnails", help="Keep small face thumbnails in the pack."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite your own look of the same name."),
    student: str = typer.Option(None, "--student", help="Look whose student to use (default: the shipped family's)."),
    grade: bool = typer.Option(True, "--grade/--no-grade", help="Also learn the photos' colour grade (tone curve and colour balance against ungraded photos)."),
    grade_only: bool = typer.Option(False, "--grade-only", help="A look that only carries the colour grade, from any photos (a photographer's portfolio; no faces needed)."),
    grade_region: str = typer.Option("frame", "--grade-region", help="Where the grade applies: frame, person or background."),
    grade_strength: float = typer.Option(0.8, "--grade-strength", help="The grade's default strength 0..1."),
    grade_skin: bool = typer.Option(False, "--grade-skin", help="Let the grade change skin tone too (default: the wearer's skin keeps its tone)."),
) -> None:
    """Create a look from photos of a made-up face and install it.

    Each photo's largest face is found and aligned with the runtime's own detector, its region colours
    (lips, lids, cheeks, skin) measured, and the robust average over the photos becomes the look code
    the shipped student paints. Photos without a usable face are skipped with one line each; at least
    3 usable faces are needed. Best: 5-15 sharp, front-facing, evenly lit photos of the same look.
    """
    from livefilter.looks.create import CreateOptions, LookCreator
    from livefilter.looks.photos import photo_paths

    opts = CreateOptions(name=name, title=title, strength=strength, regions=parse_regions(regions),
                         finetune_minutes=finetune, keep_thumbnails=keep_thumbnails, replace=replace,
                         grade=grade or grade_only, grade_only=grade_only, grade_region=grade_region,
                         grade_strength=grade_strength, keep_skin=not grade_skin)
    creator = LookCreator(student=student, threads=2)
    opts.validate(creator.registry)  # bad options fail before any photo is read
    paths = photo_paths(list(photos) + list(more or []))
    bar = Progress(TextColumn("{task.description:<16}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), console=out, transient=True)
    tasks: dict[str, int] = {}

    def progress(stage: str, done: float, total: float) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total or 1)
        bar.update(tasks[stage], completed=done, total=total or 1)

    def rejected(r) -> None:
        bar.console.print(f"[yellow]skipped[/] {escape(r.reason)}", highlight=False, soft_wrap=True)

    with bar:
        result = creator.create(list(paths), opts, progress, on_reject=rejected)
    look = result.look
    out.print(f"created [cyan]{escape(look.name)}[/] ({escape(look.title)}) from {result.used} of {len(paths)} photos "
              f"in {result.seconds:.1f} s: {escape(look.description)}", highlight=False, soft_wrap=True)
    if result.finetune:
        f = result.finetune
        out.print(f"fine-tuned the look code: objective {f['objective_before']:.2f} -> {f['objective_after']:.2f} "
                  f"({f['iterations']} steps)", soft_wrap=True)
    if grade_only:
        out.print(f"installed into {escape(str(look.root))}; try it: livefilter run --look {escape(look.name)}",
                  soft_wrap=True, highlight=False)
        return
    d0, d1 = result.metrics["reference_distance_unstyled"], result.metrics["reference_distance"]
    out.print("distance to your photos on the demo faces: " + ", ".join(
        f"{r} {d0[r]:.1f} -> {d1[r]:.1f}" for r in d1 if d1[r] is not None and d0.get(r) is not None), soft_wrap=True)
    out.print(f"installed into {escape(str(look.root))}; try it: livefilter run --look {escape(look.name)}",
              soft_wrap=True, highlight=False)
