"""``livefilter demo``: works offline right after install."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from livefilter.cli import app
from livefilter.cli.common import out
from livefilter.cli.options import BackendOption, LookOption
from livefilter.demo.clip import load_rgb, save_rgb, side_by_side, synthesise_clip
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from livefilter.sinks.file_sink import FileSink
from livefilter.sources import open_source, parse_input


@app.command()
def demo(
    look: LookOption = None,
    out_dir: Path = typer.Option(Path("."), "--out-dir", help="Where demo_out.mp4 and demo_before_after.png go."),
    seconds: float = typer.Option(4.0, "--seconds", min=1.0, max=60.0, help="Length of the synthesised clip."),
    photo: Path = typer.Option(None, "--photo", help="Use this photo instead of the bundled group photo."),
    backend: BackendOption = "auto",
) -> None:
    """Synthesise a moving clip from a real group photo, apply a look to every face, write the result.

    Rewrites demo_out.mp4 and demo_before_after.png in --out-dir.
    """
    from livefilter.demo.sample_media import group_photo_path

    out_dir.mkdir(parents=True, exist_ok=True)
    src_photo = photo or group_photo_path()
    image = load_rgb(src_photo)
    pipeline = build_pipeline(PipelineSettings(look=look, backend=backend, max_faces=8, detect_every=5))
    rt = pipeline.runtime(pipeline.controls.look)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "demo_in.mp4"
        with out.status("synthesising a moving clip from the photo"):
            synthesise_clip(image, clip, seconds=seconds)
        source = open_source(parse_input(str(clip)))
        target = out_dir / "demo_out.mp4"
        sink = FileSink(str(target), source.info, overwrite=True)
        middle = (source.info.frame_count or 120) // 2
        snap: dict[str, np.ndarray] = {}

        def keep_middle(frame, result):
            if frame.index == middle:
                snap["after"] = result.copy()

        class _Before:
            """Keeps the middle frame before the look is applied (the pipeline works in place)."""

            def __init__(self, src):
                self.src, self.info = src, src.info

            def read(self):
                f = self.src.read()
                if f is not None and f.index == middle:
                    snap["before"] = f.image.copy()
                return f

        t0 = time.perf_counter()
        try:
            with Progress(TextColumn("applying look [cyan]{task.fields[look]}[/]"), BarColumn(), MofNCompleteColumn(),
                          console=out, transient=True) as bar:
                task = bar.add_task("", total=source.info.frame_count, look=escape(rt.look.name))
                n = pipeline.run(_Before(source), sink, on_frame=keep_middle,
                                 progress=lambda i: bar.update(task, completed=i))
        finally:
            source.close()
            sink.close()
        elapsed = time.perf_counter() - t0
    png = out_dir / "demo_before_after.png"
    if "before" in snap and "after" in snap:
        save_rgb(png, side_by_side(snap["before"], snap["after"]))
    out.print(pipeline.stats.table(f"per-stage latency (ms), look '{escape(rt.look.name)}', backend {escape(rt.translator.name)}"))
    faces = len(pipeline.last_faces)
    out.print(f"photo: {escape(str(src_photo))}")
    out.print(f"{n} frames, {faces} faces in the last frame, {n / elapsed:.1f} fps end to end")
    out.print(f"wrote [green]{escape(str(target))}[/] and [green]{escape(str(png))}[/]")
