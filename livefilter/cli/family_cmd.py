"""``livefilter family train|publish``: the shipped look family (needs the training extra)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from livefilter.cli import app
from livefilter.cli.common import out, stop_on_signals
from livefilter.cli.common import default_data, need_torch, progress_bar
from livefilter.errors import LivefilterError, SettingError

family_app = typer.Typer(help="Train and publish the look family (glam, natural, bold-lip, soft-glow, toon).",
                         no_args_is_help=True)
app.add_typer(family_app, name="family")


@family_app.command("train")
def family_train(
    run: Path = typer.Option(Path("runs/family"), "--run", help="Run folder (faces, codes, checkpoint)."),
    data: Path = typer.Option(None, "--data", help="Data root with faces/ and video/ (default ../shared/data)."),
    iterations: int = typer.Option(4000, "--iterations", min=1, max=1_000_000),
    batch: int = typer.Option(8, "--batch", min=1, max=256),
    seed: int = typer.Option(0, "--seed"),
    size: int = typer.Option(256, "--size", help="Crop size faces are prepared at (the GPU input size)."),
    lr: float = typer.Option(2e-3, "--lr", min=1e-6, max=1e-1, help="Peak learning rate (cosine schedule over --iterations)."),
    small_weight: float = typer.Option(10.0, "--small-region-weight", min=0.0, max=100.0,
                                       help="Extra loss weight on lips, lids, liner and brows (small regions a viewer looks at)."),
    gpu_share: float = typer.Option(0.25, "--gpu-size-share", min=0.0, max=1.0,
                                    help="Share of batches drawn at --size (the rest at the CPU size, 128; those steps are 4x cheaper)."),
) -> None:
    """Train the one conditional student on the makeup renderer's region-by-region targets.

    Faces are detected and aligned with the runtime's own detector; each look's references are
    chosen and measured from the makeup / style reference photos; every batch is rendered on the
    fly at 128 or 256 px. Resumes from the run's checkpoint; Ctrl-C saves and stops.
    """
    need_torch()
    import numpy as np

    from training.makeup.dataset import split
    from training.makeup.prepare import faces_file, family_codes, prepare_run, read_faces
    from training.makeup.sampler import CodeSampler
    from training.makeup.trainer import FamilyConfig, FamilyTrainer

    if size % 8 or not 64 <= size <= 512:
        raise SettingError(f"--size must be a multiple of 8 in 64..512, got {size}")
    root = data or default_data()
    if not (root / "faces").is_dir():
        raise LivefilterError(f"no faces/ folder under {root}; pass --data DATA_ROOT")
    with progress_bar() as bar:
        task = bar.add_task("preparing faces", total=None, info="")
        info = prepare_run(root, run, size, progress=lambda i, n: bar.update(task, completed=i, total=n))
        bar.update(task, completed=1, total=1)
    train, _ = split(read_faces(faces_file(run, size)))
    sampler = CodeSampler(list(family_codes(info).values()), info["makeup_reference_descriptors"], info["baseline"],
                          np.random.default_rng(seed + 1))
    gpu_batches = round(4 * gpu_share)
    sizes = (128,) * (4 - gpu_batches) + (size,) * gpu_batches
    cfg = FamilyConfig(iterations=iterations, batch=batch, seed=seed, lr=lr, w_small=small_weight, sizes=sizes)
    trainer = FamilyTrainer(cfg, train, sampler, run)
    if trainer.resume():
        out.print(f"resuming at step {trainer.step}")
    with stop_on_signals() as stop, progress_bar() as bar:
        task = bar.add_task("student", total=cfg.iterations, completed=trainer.step, info="")
        trainer.run(progress=lambda s, l: bar.update(task, completed=s, info=f"L1 {l['l1']:.4f}"), stop=stop)
    out.print(f"checkpoint: {escape(str(trainer.checkpoint_path()))}  "
              f"(publish with: livefilter family publish --run {escape(str(run))})")


@family_app.command("publish")
def family_publish(
    run: Path = typer.Option(Path("runs/family"), "--run", help="A trained family run folder."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Where look packs go (default: your looks folder)."),
) -> None:
    """Export the student (one ONNX, dynamic batch and size), measure every look on held-out faces, write the packs."""
    need_torch()
    from livefilter.infra.paths import user_looks_dir
    from training.makeup.publish import publish

    if not (run / "family_student.safetensors").is_file() or not (run / "family.json").is_file():
        raise LivefilterError(f"{run} is not a trained family run; run `livefilter family train --run {run}` first")
    with out.status("exporting and measuring the looks"):
        written = publish(run, out_dir or user_looks_dir())
    for p in written:
        out.print(f"look pack: [green]{escape(str(p))}[/]")
