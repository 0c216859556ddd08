"""``livefilter train`` / ``distill`` / ``eval`` (need the training extra: pip install 'livefilter[train]')."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from livefilter.cli import app
from livefilter.cli.common import message, out, stop_on_signals
from livefilter.errors import LivefilterError, SettingError

HELD_OUT = ("dualstylegan_content", "vtoonify_data", "liveportrait_driving_frames")


def need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise LivefilterError("training needs PyTorch: pip install 'livefilter[train]'") from None


def default_data() -> Path:
    return Path(os.environ.get("LIVEFILTER_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))


def progress_bar():
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[info]}"), console=out)


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
    from livefilter.settings.paths import user_looks_dir
    from training.config import DistillConfig, StudentConfig, TrainConfig
    from training.data import prepare_crops
    from training.distill import DistillTrainer
    from training.looks_from_run import write_looks
    from training.train import to_tensor

    tcfg = TrainConfig.load(run / "config.json") if (run / "config.json").is_file() else None
    if tcfg is None:
        raise LivefilterError(f"{run} has no teacher run (config.json); run `livefilter train --run {run}` first")
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


PLACEMENT_SHOWN = (("inner_mouth_delta_e", "inner-mouth ΔE", 2), ("spill", "spill", 3),
                   ("under_eye_delta_l", "under-eye ΔL", 2), ("lid_asymmetry", "lid asymmetry", 2),
                   ("cheek_asymmetry", "cheek asymmetry", 2), ("lip_texture", "lip texture", 2),
                   ("lips_delta_e", "lips ΔE", 1))


def placement_lines(placement: dict) -> list[tuple[str, bool]]:
    """One line per input size and set of frames: the placement means and which targets are missed."""
    lines = []
    for size, sets in placement.items():
        for name, summary in sets.items():
            shown = ", ".join(f"{label} {summary[key]['mean']:.{digits}f}" for key, label, digits in PLACEMENT_SHOWN
                              if summary.get(key, {}).get("mean") is not None)
            missed = [k for k, ok in summary.get("targets", {}).items() if not ok]
            verdict = "all targets met" if not missed else "missed: " + ", ".join(missed)
            lines.append((f"({size} size, {name.replace('_', ' ')}, {summary['faces']} faces): {shown}; {verdict}",
                          not missed))
    return lines


@app.command("eval")
def evaluate(
    look: str = typer.Argument(..., help="Look name or folder."),
    faces: Path = typer.Option(None, "--faces", help="A folder of face photos."),
    video: Path = typer.Option(None, "--video", help="A video (flicker)."),
    refs: Path = typer.Option(None, "--refs", help="The look's reference photos (style distance)."),
    output: Path = typer.Option(Path("eval_report.json"), "--output", "-o"),
) -> None:
    """Measure a look: region colour, identity, style distance, flicker, seam, and where the makeup lands at full
    frame resolution (teeth, lip line, under the eyes, both sides alike, lip texture); writes a report + grid."""
    from livefilter.looks.registry import LookRegistry
    from training.eval.report import evaluate_look_pack

    if faces is None and video is None:
        raise SettingError("give --faces FOLDER and/or --video FILE")
    report = evaluate_look_pack(LookRegistry().get(look), faces=faces, video=video, refs=refs, output=output)
    out.print_json(json.dumps(report))
    ident = report.get("identity")
    if isinstance(ident, dict) and not ident.get("measured", True):
        out.print(message(Text("identity not measured: ", style="yellow"), ident.get("reason", "unknown reason")))
    for line, ok in placement_lines(report.get("placement", {})):
        out.print(message(Text("placement ", style="green" if ok else "yellow"), line))
    out.print(f"wrote {output} and {output.with_suffix('.png')}")
