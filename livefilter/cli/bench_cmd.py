"""``livefilter bench``: per-stage latency on a real video, against the naive baseline."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress

from livefilter.cli import app
from livefilter.cli.common import out
from livefilter.cli.options import LookOption
from livefilter.translate import backends as backend_registry


@app.command()
def bench(
    input: Path = typer.Option(None, "--input", "-i", help="Video to run (default: the demo clip)."),
    resolutions: str = typer.Option("720p", "--resolutions", help="Comma list of 360p, 720p, 1080p, 4k."),
    faces: str = typer.Option("1", "--faces", help="Comma list of face counts: 1 and/or 4 (4 = 2x2 mosaic)."),
    backends: str = typer.Option("all", "--backends", help=f"Comma list of translator backends ({', '.join(backend_registry.choices())}), or all: every backend usable here (see `livefilter doctor`); torch-cpu runs the GPU pipeline on the CPU."),
    frames: int = typer.Option(120, "--frames", help="Frames per measurement."),
    cpu: bool = typer.Option(False, "--cpu", help="Only the onnxruntime CPU backend."),
    quick: bool = typer.Option(False, "--quick", help="Small, CPU-only run (under a minute) for CI."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also measure the naive baseline."),
    look: LookOption = None,
    fusion: bool = typer.Option(True, "--fusion/--no-fusion", help="Also time the device pipeline's pixel-format conversion eager vs torch.compile'd (compiles for a few seconds)."),
    placement: bool = typer.Option(True, "--placement/--no-placement", help="Also run each measurement without the makeup placement (lip line, mouth and eye openings, mirrored lids and cheeks), for its cost per face in the same run."),
    finish: bool = typer.Option(True, "--finish/--no-finish", help="Also run each measurement with the skin finish on (strength 1, under-eye 0.5) and off, for its cost per face in the same run."),
    scene: bool = typer.Option(True, "--scene/--no-scene", help="Also run each measurement with background blur, a colour grade, and both (segmentation + background and grade cost per frame, in the same run)."),
    teacher: Path = typer.Option(None, "--teacher", help="Teacher ONNX (python -m training.export RUN OUT) for teacher vs student."),
    out_dir: Path = typer.Option(Path("bench_results"), "--out-dir", help="Where JSON, markdown and plot go."),
) -> None:
    """Measure per-stage p50/p95/p99, end-to-end latency, fps, drops and memory."""
    from benchmarks.harness import BenchConfig, available_backends, run_bench, write_results

    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if chosen == ["all"]:
        chosen = available_backends()

    with tempfile.TemporaryDirectory() as tmp:
        video = input
        if video is None:
            from livefilter.demo.clip import load_rgb, synthesise_clip
            from livefilter.demo.sample_media import group_photo_path

            video = Path(tmp) / "demo_in.mp4"
            with out.status("synthesising the demo clip"):
                synthesise_clip(load_rgb(group_photo_path()), video, seconds=2.0 if quick else 4.0)
        cfg = BenchConfig(
            video=str(video),
            resolutions=["360p"] if quick else [r.strip() for r in resolutions.split(",") if r.strip()],
            faces=[int(f) for f in faces.split(",") if f.strip()],
            backends=["onnxruntime-cpu"] if (cpu or quick) else chosen,
            frames=30 if quick else frames,
            warmup=3 if quick else 10,
            paced_seconds=1.0 if quick else 3.0,
            baseline=baseline,
            look=look,
            teacher_onnx=str(teacher) if teacher else None,
            fusion=fusion and not quick,
            placement=placement and not quick,
            finish=finish and not quick,
            scene=scene and not quick,
        )
        with Progress(console=out, transient=True) as bar:
            task = bar.add_task("benchmarking", total=None)
            doc = run_bench(cfg, progress=lambda i, n: bar.update(task, completed=i, total=n))
    paths = write_results(doc, out_dir)
    from rich.table import Table

    from benchmarks.harness import markdown_table

    for r in doc["runs"]:
        t = Table(title=f"pipeline {r['resolution']} {r['faces']} face(s) {r['backend']} (ms)")
        for c in ("stage", "p50", "p95", "p99"):
            t.add_column(c)
        for s, v in r["pipeline"]["stages"].items():
            t.add_row(s, f"{v['p50']:.2f}", f"{v['p95']:.2f}", f"{v['p99']:.2f}")
        out.print(t)
    # the summary table and its notes (translator ratios, fusion gain), as written to the .md file
    out.print(markdown_table(doc), highlight=False, markup=False)
    out.print("wrote " + ", ".join(escape(str(p)) for p in paths))


@app.command()
def soak(
    input: Path = typer.Option(..., "--input", "-i", help="A real video; it is looped."),
    duration: float = typer.Option(300.0, "--duration", min=10.0, help="Seconds to run after warm-up."),
    interval: float = typer.Option(5.0, "--interval", min=0.5, help="Seconds between samples."),
    look: LookOption = None,
    output: Path = typer.Option(Path("bench_results/soak.json"), "--output", "-o"),
) -> None:
    """Run the full pipeline on a looping video; report memory and latency drift."""
    from benchmarks.soak import run_soak, write_report

    with out.status(f"soaking for {duration:.0f} s"):
        report = run_soak(str(input), duration, interval, look)
    write_report(report, output)
    out.print(
        f"{report.frames} frames; RSS {report.rss_start_mb:.0f} -> {report.rss_end_mb:.0f} MiB "
        f"(growth {report.memory_growth_mb():+.1f} MiB); p99 drift x{report.latency_drift():.2f}; wrote {escape(str(output))}"
    )
