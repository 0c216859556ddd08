"""``livefilter export``: build or refresh this machine's engines for installed looks."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from livefilter.cli import app
from livefilter.cli.common import out, plain
from livefilter.settings.choices import MAX_FACES
from livefilter.errors import SettingError
from livefilter.translate import backends as backend_registry


WIDE_TABLE = 120  # columns: the engine cache table's every field in its own column from this width

@app.command()
def export(
    look: str = typer.Argument(None, help="Look name (or use --all)."),
    all_looks: bool = typer.Option(False, "--all", help="Every installed look."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild even when a valid cached artefact exists."),
    fp32: bool = typer.Option(False, "--fp32", help="Build FP32 engines instead of FP16."),
    max_faces: int = typer.Option(4, "--max-faces", help=f"Largest batch (faces) the engine accepts (1..{MAX_FACES})."),
    backend: str = typer.Option(None, "--backend", help=f"Only this backend ({', '.join(backend_registry.exportable())}; default: {', '.join(backend_registry.export_defaults())})."),
    list_cache: bool = typer.Option(False, "--list", help="Show the engine cache and exit."),
) -> None:
    """Build/refresh per-GPU engines (TensorRT FP16, onnxruntime optimised graphs) in the user cache."""
    from exporters.build import export_look
    from livefilter.engines.cache import EngineCache
    from livefilter.looks.registry import LookRegistry

    cache = EngineCache()
    if list_cache:
        from exporters.build import cache_rows

        rows = cache_rows(cache, LookRegistry().list())
        if not rows:
            out.print(plain(f"engine cache is empty ({cache.root})"))
            return
        t = Table(title=plain(f"engine cache: {cache.root}"), box=box.SIMPLE_HEAD)
        wide = out.width >= WIDE_TABLE
        # on a narrow terminal the details share one column that wraps between words, instead of eight
        # columns each broken into fragments
        cols = ("look", "backend", "state", "prec", "profile", "size", "built", "device") if wide else \
            ("look", "backend", "state", "size", "details")
        for col in cols:
            t.add_column(col, no_wrap=col in ("backend", "prec", "size", "built"),
                         ratio=2 if col in ("details", "device", "profile") else None)
        for r in rows:
            built = plain(r.built_at[:16].replace("T", " "))
            head = (plain(r.look), r.backend, plain(r.state, "" if r.usable else "yellow"))
            size = f"{r.size / 2**20:.1f} MiB"
            if wide:
                t.add_row(*head, r.precision, plain(r.profile), size, built, plain(r.device))
            else:
                t.add_row(*head, size, plain(f"{r.precision}, {r.profile}, built {built} on {r.device}"))
        out.print(t)
        valid = sum(r.usable for r in rows)
        out.print(f"{len(rows)} artefact(s), {valid} valid here, {sum(r.size for r in rows) / 2**20:.1f} MiB")
        return
    if not 1 <= max_faces <= MAX_FACES:
        raise SettingError(f"--max-faces must be 1..{MAX_FACES}, got {max_faces}")
    reg = LookRegistry()
    if all_looks:
        looks = [reg.get(n) for n in reg.names()]
    elif look:
        looks = [reg.get(look)]
    else:
        raise SettingError("name a look or pass --all")
    backends = [backend] if backend else list(backend_registry.export_defaults())
    t = Table(title="export")
    for col in ("look", "backend", "result", "seconds", "detail"):
        t.add_column(col)
    with out.status("building engines") as status:
        for lk in looks:
            for b in backends:
                r = export_look(lk, b, max_faces=max_faces, precision="fp32" if fp32 else "fp16", rebuild=rebuild,
                                cache=cache, progress=lambda msg: status.update(msg))
                colour = {"built": "green", "cached": "cyan", "unavailable": "yellow", "failed": "red"}[r.status]
                t.add_row(plain(r.look), r.backend, f"[{colour}]{r.status}[/]", f"{r.seconds:.1f}", plain(r.detail))
    out.print(t)
