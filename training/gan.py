"""The teacher GAN's research commands (not on the shipped ``livefilter`` command: no shipped look comes
from this path yet).

    python -m training.gan train   --run runs/builtin ...   # the teacher on real faces and references
    python -m training.gan distill --run runs/builtin ...   # a student from that teacher, as look packs

Errors are one line and a non-zero exit, as on the ``livefilter`` command.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from livefilter.cli import main
from livefilter.cli.common import HELD_OUT, default_data, need_torch, out, progress_bar, stop_on_signals
from livefilter.errors import LivefilterError, SettingError

app = typer.Typer(name="training.gan", help="The teacher GAN: train it, distil a student from it.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.command()
def train(
    run: Path = typer.Option(Path("runs/builtin"), "--run", help="Run folder (config, checkpoints, plots)."),
    data: Path = typer.Option(None, "--data", help="Data root with faces/ and video/ (the built-in looks' data)."),
    source: list[Path] = typer.Option(None, "--source", help="Plain-face folders/videos (instead of the preset)."),
    look: list[str] = typer.Option(None, "--look", help="NAME=FOLDER of reference photos; repeat per look."),
    size: int = typer.Option(128, "--size", help="Crop size (multiple of 8; 256 on a GPU)."),
    iterations: int = typer.Option(1200, "--iterations", min=1),
    batch: int = typer.Option(4, "--batch", min=1, max=256),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(True, "--resume/--fresh", help="Continue from the run's checkpoint if present."),
    vgg_weights: Path = typer.Option(None, "--vgg-weights", help="VGG16 safetensors for the style loss (optional)."),
    arcface_onnx: Path = typer.Option(None, "--arcface-onnx", help="ArcFace ONNX for the identity term (optional)."),
) -> None:
    """Train the teacher GAN on real faces and each look's reference photos."""
    need_torch()
    from training.config import LookSpec
    from training.presets import builtin_config
    from training.train import TeacherTrainer

    if size % 8 or not 32 <= size <= 512:
        raise SettingError(f"--size must be a multiple of 8 in 32..512, got {size}")
    cfg = builtin_config(data or default_data(), size=size, iterations=iterations, batch=batch, seed=seed,
                         vgg_weights=str(vgg_weights) if vgg_weights else None,
                         arcface_onnx=str(arcface_onnx) if arcface_onnx else None)
    if source:
        cfg.source, cfg.exclude = [str(p) for p in source], []
    if look:
        specs = []
        for item in look:
            name, sep, folder = item.partition("=")
            if not sep or not name or not folder:
                raise SettingError(f"--look must be NAME=FOLDER, got {item!r}")
            specs.append(LookSpec(name=name, refs=[folder]))
        cfg.looks = specs
    if not resume and (run / "checkpoints").exists():
        raise SettingError(f"{run} already has checkpoints; choose another --run or keep --resume")
    with out.status("preparing aligned face crops (cached after the first run)"):
        trainer = TeacherTrainer(cfg, run)
    if resume and trainer.resume():
        out.print(f"resuming at step {trainer.step}")
    with stop_on_signals() as stop, progress_bar() as bar:
        task = bar.add_task("teacher", total=cfg.iterations, completed=trainer.step, info="")
        trainer.run(progress=lambda s, l: bar.update(task, completed=s, info=f"G {l['g']:.3f} D {l['d']:.3f}"), stop=stop)
    out.print(f"teacher checkpoint: {trainer.checkpoint_path()}  (samples and loss_curve.png in {run})")


@app.command()
def distill(
    run: Path = typer.Option(Path("runs/builtin"), "--run", help="The teacher's run folder."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Where look packs go (default: your looks folder)."),
    iterations: int = typer.Option(1500, "--iterations", min=1),
    batch: int = typer.Option(8, "--batch", min=1),
    base: int = typer.Option(12, "--base", help="Student width (channels of the first layer)."),
    video: Path = typer.Option(None, "--video", help="A real video for the flicker metric."),
    encode: list[str] = typer.Option(None, "--encode", help="NAME=FOLDER: also write a look encoded from a few reference photos."),
) -> None:
    """Distil the teacher into the runtime student and write one look pack per look."""
    need_torch()
    from livefilter.align.host import Aligner
    from livefilter.infra.paths import user_looks_dir
    from training.config import DistillConfig, StudentConfig, TrainConfig
    from training.data import prepare_crops
    from training.distill import DistillTrainer
    from training.looks_from_run import write_looks
    from training.train import to_tensor

    tcfg = TrainConfig.load(run / "config.json") if (run / "config.json").is_file() else None
    if tcfg is None:
        raise LivefilterError(f"{run} has no teacher run (config.json); run `python -m training.gan train --run {run}` first")
    aligner = Aligner(tcfg.size, tcfg.padding)
    with out.status("preparing aligned face crops"):
        src = prepare_crops([Path(p) for p in tcfg.source], aligner, run / "cache",
                            exclude=tuple(tcfg.exclude) + HELD_OUT)
    cfg = DistillConfig(iterations=iterations, batch=batch, student=StudentConfig(base=base))
    trainer = DistillTrainer(run, cfg, to_tensor(src.crops), run / "distill")
    trainer.resume()
    with stop_on_signals() as stop, progress_bar() as bar:
        task = bar.add_task("student", total=cfg.iterations, completed=trainer.step, info="")
        trainer.run(progress=lambda s, l: bar.update(task, completed=s, info=f"L1 {l['l1']:.4f}"), stop=stop)
    faces_root = Path(tcfg.source[0])
    held = [faces_root / h for h in HELD_OUT if (faces_root / h).exists()] or [faces_root]
    vid = video or next((Path(p) / "deepfacelive" / "Obama_speaking.mp4" for p in tcfg.source
                         if (Path(p) / "deepfacelive" / "Obama_speaking.mp4").is_file()), None)
    with out.status("exporting and measuring looks"):
        written = write_looks(trainer.S.eval(), trainer.T, tcfg, trainer.style_codes(), out_dir or user_looks_dir(),
                              run, held, vid, {"iterations": cfg.iterations, "source_faces": len(src)})
    for item in encode or []:
        from exporters.look_pack import write_look_pack
        from training.encode import encode_style

        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise SettingError(f"--encode must be NAME=FOLDER, got {item!r}")
        style = encode_style(run, [Path(folder)], run / "cache")
        look_pack, _ = write_look_pack(
            trainer.S, out_dir or user_looks_dir(), name=name, style_code=style.tolist(), input_size=tcfg.size,
            align_padding=tcfg.padding, description=f"encoded from the photos in {Path(folder).name}",
            training={"encoded_from": str(folder)}, onnx_from=run / "student.onnx",
        )
        written.append(look_pack.root)
    for p in written:
        out.print(f"look pack: [green]{p}[/]")
        out.print_json(json.dumps(json.loads((p / "look.json").read_text())["metrics"]))


if __name__ == "__main__":
    main(app, "python -m training.gan")
