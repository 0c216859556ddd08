"""``python -m training.teacher prepare|train|publish|gpu-run``: the teacher GAN and its distilled student.

Errors are one line and a non-zero exit, as on the ``livefilter`` command.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from livefilter.cli import main
from livefilter.cli.common import default_data, need_torch, out, progress_bar, stop_on_signals
from livefilter.errors import LivefilterError, SettingError

app = typer.Typer(name="training.teacher", help="The teacher GAN: prepare its data, train it with the online "
                  "student, publish the student's looks, or run it on one GPU.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
DATA_FILE = "teacher-data.npz"
# the recipe of the recorded runs, for `train` and `gpu-run` alike (the run config's own defaults are the plain terms)
PAINT_SHARE, PAINT_WEIGHT, EYE_SHARE, STUDENT_DETAIL, DESC_WEIGHT, STUDENT_DESC = 0.3, 5.0, 0.3, 0.5, 0.3, 0.0
PLACE_WEIGHT = 1.0  # the placement term: teacher and student change nothing the look does not paint
PLACE_PEAK = 0.3  # the placement term's worst 1 % of pixels (blotches): at 0.3 glam keeps the person on every face
SPREAD_WEIGHT = 2.0  # the spread term: inside lips and lid, colour where the renderer puts it, in proportion
CHEEK_WEIGHT = 3.0  # blush, contour and highlight: the renderer's local mean colour (at 0.5 the blush was lost)
STUDENT_CHEEK = 0.0  # the same for the student, against the teacher's output (3.0 until the renderer's, below)
STUDENT_LID = 0.0  # the same local colour term on the eye shadow, for the student
CROSS_SHARE = 0.3  # draws whose lips, cheeks and skin come from another draw: created looks' lips 0.55 -> 0.49
LIP_TEXTURE = 0.0  # the student's lips keep the input's lines (Laplacian of lightness): see LIDS.md section 14
STUDENT_MOTION = 0.0  # the student's output moves with the face (flicker): see LIDS.md section 18
RENDERER_CHEEK = 15.0  # the student's cheek colour against the renderer's: glam cheeks 1.02 -> 0.84 (sections 14, 15)
LIGHT_SHARE = 0.25  # draws given a lighter-than-plain eye shadow, other fields kept: the first lighter lid learned
PHOTO_DROPOUT = 0.3  # draws whose photos the teacher does not see: its code-alone path learns the looks' codes


@app.command()
def prepare(
    run: Path = typer.Option(Path("runs/teacher"), "--run", help="Run folder (faces, references, codes)."),
    data: Path = typer.Option(None, "--data", help="Data root with faces/ and video/ (default ../shared/data)."),
    out_file: Path = typer.Option(None, "--out", help=f"Packed data file (default RUN/{DATA_FILE})."),
) -> None:
    """Detect and align every training face and reference once; write the packed data file."""
    need_torch()
    from training.teacher.prepare import write_pack

    root = data or default_data()
    if not (root / "faces").is_dir():
        raise LivefilterError(f"no faces/ folder under {root}; pass --data DATA_ROOT")
    with out.status("preparing faces, masks and references"):
        path = write_pack(root, run, out_file or run / DATA_FILE)
    out.print(f"packed data: {escape(str(path))} ({path.stat().st_size / 2**20:.1f} MiB)")


def _config(iterations: int, batch: int, seed: int, threads: int, device: str, gpu_share: float,
            paint_share: float = PAINT_SHARE, restart_at: int = 0, paint_weight: float = PAINT_WEIGHT,
            eye_share: float = EYE_SHARE, student_detail: float = STUDENT_DETAIL, desc_weight: float = DESC_WEIGHT,
            student_desc: float = STUDENT_DESC, place_weight: float = PLACE_WEIGHT,
            spread_weight: float = SPREAD_WEIGHT, cheek_weight: float = CHEEK_WEIGHT,
            student_cheek: float = STUDENT_CHEEK, photo_dropout: float = PHOTO_DROPOUT, student_only: bool = False,
            place_peak: float = PLACE_PEAK, student_lid: float = STUDENT_LID, cross_share: float = CROSS_SHARE,
            light_share: float = LIGHT_SHARE, lip_texture: float = LIP_TEXTURE,
            renderer_cheek: float = RENDERER_CHEEK, student_motion: float = STUDENT_MOTION):
    from training.teacher.trainer import TeacherRunConfig

    share = round(4 * gpu_share)
    # the adversarial, cycle and identity terms start a third of the way in, once the makeup losses have
    # converged; the student's target moves from the renderer's to the teacher's over the first quarter
    return TeacherRunConfig(iterations=iterations, batch=batch, seed=seed, threads=threads, device=device,
                            sizes=(128,) * (4 - share) + (256,) * share, adv_start=max(1, iterations // 3),
                            distill_ramp=max(1, iterations // 4), paint_share=paint_share, restart_at=restart_at,
                            w_paint_pair=paint_weight, eye_share=eye_share, w_student_detail=student_detail,
                            w_desc=desc_weight, w_student_desc=student_desc, w_place=place_weight,
                            w_spread=spread_weight, w_cheek_colour=cheek_weight, w_student_cheek=student_cheek,
                            photo_dropout=photo_dropout, student_only=student_only, w_place_peak=place_peak,
                            w_student_lid=student_lid, cross_share=cross_share, light_share=light_share,
                            w_lip_texture=lip_texture, w_renderer_cheek=renderer_cheek,
                            w_student_motion=student_motion)


@app.command()
def train(
    run: Path = typer.Option(Path("runs/teacher"), "--run", help="Run folder (checkpoint, history)."),
    data_file: Path = typer.Option(None, "--data-file", help=f"Packed data file (default RUN/{DATA_FILE})."),
    iterations: int = typer.Option(800, "--iterations", min=1, max=1_000_000),
    batch: int = typer.Option(4, "--batch", min=2, max=256),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads", min=1, max=64, help="CPU threads (1 on a shared machine)."),
    gpu_share: float = typer.Option(0.25, "--gpu-size-share", min=0.0, max=1.0,
                                    help="Share of batches at 256 px (the rest at 128)."),
    paint_share: float = typer.Option(PAINT_SHARE, "--paint-share", min=0.0, max=0.5,
                                      help="Extra share of samples wearing the stylised (toon) look."),
    paint_weight: float = typer.Option(PAINT_WEIGHT, "--paint-weight", min=1.0, max=100.0,
                                       help="Weight of a stylised sample in the pair and detail terms."),
    eye_share: float = typer.Option(EYE_SHARE, "--eye-share", min=0.0, max=1.0,
                                    help="Share of family and mix draws whose liner and brows (and half the time the "
                                         "eye shadow) are drawn apart, so the student follows the shadow fields."),
    student_detail: float = typer.Option(STUDENT_DETAIL, "--student-detail", min=0.0, max=100.0,
                                         help="Weight of the detail (Laplacian) term for the student."),
    desc_weight: float = typer.Option(DESC_WEIGHT, "--desc-weight", min=0.0, max=100.0,
                                      help="Weight of the measured lips and lid colour target (what the photos measure)."),
    student_desc: float = typer.Option(STUDENT_DESC, "--student-desc", min=0.0, max=100.0,
                                       help="Weight of the same colour target for the student, which sees the code "
                                            "only (off by default: with it the student spilled colour)."),
    place_weight: float = typer.Option(PLACE_WEIGHT, "--place-weight", min=0.0, max=100.0,
                                       help="Weight of the placement term for teacher and student: no change "
                                            "wherever the look leaves the face as it was."),
    place_peak: float = typer.Option(PLACE_PEAK, "--place-peak", min=0.0, max=100.0,
                                     help="Weight of the placement term's worst 1 % of pixels, for teacher and "
                                          "student: a small blotch costs as much as a broad smear."),
    spread_weight: float = typer.Option(SPREAD_WEIGHT, "--spread-weight", min=0.0, max=100.0,
                                        help="Weight of the spread term for teacher and student: inside the lips "
                                             "and the lid, colour where the renderer puts it, in proportion (no "
                                             "pools at the regions' soft edges)."),
    cheek_weight: float = typer.Option(CHEEK_WEIGHT, "--cheek-weight", min=0.0, max=100.0,
                                       help="Weight of the blush, contour and highlight colour target (the "
                                            "renderer's local mean colour on the cheeks)."),
    student_cheek: float = typer.Option(STUDENT_CHEEK, "--student-cheek", min=0.0, max=100.0,
                                        help="Weight of the same cheek colour target for the student, against "
                                             "the teacher's output."),
    student_lid: float = typer.Option(STUDENT_LID, "--student-lid", min=0.0, max=100.0,
                                      help="Weight of a local colour target on the eye shadow for the student, "
                                           "against the teacher's output (the lid band is a few pixels tall)."),
    photo_dropout: float = typer.Option(PHOTO_DROPOUT, "--photo-dropout", min=0.0, max=1.0,
                                        help="Share of the draws with reference photos whose photos the teacher "
                                             "does not see: it then follows the code alone, as the student does."),
    cross_share: float = typer.Option(CROSS_SHARE, "--cross-share", min=0.0, max=1.0,
                                      help="Share of the family, reference and mix draws whose lips, cheeks and "
                                           "skin finish come from another draw, so the eye shadow is learned "
                                           "apart from the lipstick and blush it came with."),
    light_share: float = typer.Option(LIGHT_SHARE, "--light-share", min=0.0, max=1.0,
                                      help="Share of the draws (not the stylised look's) given an eye shadow "
                                           "lighter than the plain lid, their other fields kept: the student "
                                           "learns a lighter lid only from such draws."),
    lip_texture: float = typer.Option(LIP_TEXTURE, "--lip-texture", min=0.0, max=100.0,
                                      help="Weight of the lips' texture term for the student: inside the lips, "
                                           "the Laplacian of lightness as the input has it (the lipstick keeps "
                                           "the lips' own lines)."),
    renderer_cheek: float = typer.Option(RENDERER_CHEEK, "--renderer-cheek", min=0.0, max=100.0,
                                         help="Weight of the cheek colour target for the student against the "
                                              "renderer's output (makeup looks), beside or instead of "
                                              "--student-cheek's teacher."),
    student_motion: float = typer.Option(STUDENT_MOTION, "--student-motion", min=0.0, max=100.0,
                                         help="Weight of the motion term for the student: what it changes on the "
                                              "face moved by a sub-pixel shift, a small turn and scale (with "
                                              "camera-like noise) against what it changes on the face, moved the "
                                              "same way, so the look follows the face on a live feed (off by "
                                              "default; see training/teacher/LIDS.md section 18)."),
    student_only: bool = typer.Option(False, "--student-only",
                                      help="A distillation segment: only the student learns; the trained teacher "
                                           "and discriminators are left as they are (a few times faster a step)."),
    resume: bool = typer.Option(True, "--resume/--fresh", help="Continue from the run's checkpoint if present."),
    max_seconds: float = typer.Option(None, "--max-seconds", min=1.0, help="Stop (and save) after this long."),
    restart_at: int = typer.Option(0, "--restart-at", min=0,
                                   help="Continue a finished run: from this step a new warm-up and cosine "
                                        "schedule (half the peak learning rates) up to --iterations."),
) -> None:
    """Train the teacher and distil the student online; checkpoints every few minutes, Ctrl-C saves."""
    need_torch()
    from training.teacher.prepare import read_pack

    if restart_at and restart_at >= iterations:
        raise SettingError(f"--restart-at ({restart_at}) must be below --iterations ({iterations})")
    cfg = _config(iterations, batch, seed, threads, "cpu", gpu_share, paint_share, restart_at, paint_weight,
                  eye_share, student_detail, desc_weight, student_desc, place_weight, spread_weight, cheek_weight,
                  student_cheek, photo_dropout, student_only, place_peak, student_lid, cross_share, light_share,
                  lip_texture, renderer_cheek, student_motion)
    with out.status("reading the packed data"):
        pack = read_pack(data_file or run / DATA_FILE, threads=max(2, threads))
    step = _segment(run, pack, cfg, resume, max_seconds)
    out.print(f"checkpoint: {escape(str(run / 'teacher.safetensors'))} at step {step}")


def _segment(run: Path, pack, cfg, resume: bool = True, max_seconds: float | None = None, label: str = "teacher"):
    """Train one segment (resuming the run's checkpoint); returns the step it stopped at."""
    from training.teacher.trainer import TeacherTrainer

    trainer = TeacherTrainer(cfg, pack, run)
    if trainer.checkpoint_path().is_file() and not resume:
        raise SettingError(f"{run} already has a checkpoint; choose another --run or keep --resume")
    if cfg.student_only and not (resume and trainer.checkpoint_path().is_file()):
        raise SettingError(f"--student-only distils from a trained teacher: {run} has no checkpoint to resume")
    if resume and trainer.resume():
        out.print(f"resuming at step {trainer.step}")
    with stop_on_signals() as stop, progress_bar() as bar:
        task = bar.add_task(label, total=cfg.iterations, completed=trainer.step, info="")
        trainer.run(progress=lambda s, lg: bar.update(task, completed=s, info=f"student {lg['student']:.3f}"),
                    stop=stop, max_seconds=max_seconds)
    return trainer.step


@app.command()
def rebuild(
    run: Path = typer.Option(Path("runs/teacher"), "--run", help="Run folder (checkpoint, history)."),
    data_file: Path = typer.Option(None, "--data-file", help=f"Packed data file (default RUN/{DATA_FILE})."),
    threads: int = typer.Option(1, "--threads", min=1, max=64, help="CPU threads (1 on a shared machine)."),
    max_seconds: float = typer.Option(None, "--max-seconds", min=1.0, help="Stop (and save) after this long."),
    schedule_file: Path = typer.Option(None, "--schedule", help="A JSON list of segments instead of the recipe's "
                                       "({\"until\": step, \"student_only\": bool, \"weights\": {option: value}})."),
) -> None:
    """Train the recorded recipe's whole schedule of segments (training/teacher/schedule.py) into RUN: from
    scratch, or on from wherever the run's checkpoint stopped. Run it again after a stop; it continues."""
    import time

    need_torch()
    from training.checkpoint import read_meta
    from training.teacher.prepare import read_pack
    from training.teacher.schedule import RECIPE, check, position, read_schedule

    schedule = read_schedule(schedule_file) if schedule_file else RECIPE
    check(schedule)
    ckpt = run / "teacher.safetensors"
    step = int(read_meta(ckpt).get("step", 0)) if ckpt.is_file() else 0
    if position(step, schedule) is None:
        out.print(f"{escape(str(run))} has finished the schedule (step {step}); nothing to do")
        return
    with out.status("reading the packed data"):
        pack = read_pack(data_file or run / DATA_FILE, threads=max(2, threads))
    t0 = time.perf_counter()
    while (at := position(step, schedule)) is not None:
        i, start = at
        seg = schedule[i]
        left = None if max_seconds is None else max_seconds - (time.perf_counter() - t0)
        if left is not None and left <= 0:
            break
        out.print(f"segment {i + 1}/{len(schedule)}, steps {start:,} -> {seg.until:,}: {escape(seg.about)}")
        cfg = _config(seg.until, 4, 0, threads, "cpu", 0.25, restart_at=start, student_only=seg.student_only,
                      **seg.options())
        step = _segment(run, pack, cfg, max_seconds=left, label=f"segment {i + 1}")
        if step < seg.until:  # stopped (Ctrl-C or the time budget): the checkpoint is saved
            break
    out.print(f"checkpoint: {escape(str(ckpt))} at step {step}"
              + ("" if position(step, schedule) is not None else " (the schedule is complete)"))


@app.command()
def publish(
    run: Path = typer.Option(Path("runs/teacher"), "--run", help="A teacher run folder (teacher.safetensors)."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Where look packs go (default RUN/looks)."),
) -> None:
    """The distilled student as the family's look packs (one ONNX, measured on held-out faces), a candidate
    look set for the A/B against the shipped looks."""
    need_torch()
    from training.makeup.publish import publish as publish_family
    from training.teacher.distill import export_student

    if not (run / "teacher.safetensors").is_file() or not (run / "family.json").is_file():
        raise LivefilterError(f"{run} is not a teacher run; run `python -m training.teacher prepare` and `train` first")
    if not (run / "faces-256.npz").is_file():
        raise LivefilterError(f"{run} has no held-out faces (faces-256.npz); run `python -m training.teacher prepare --run {run}`")
    export_student(run)
    with out.status("exporting and measuring the looks"):
        written = publish_family(run, out_dir or run / "looks")
    for p in written:
        out.print(f"look pack: [green]{escape(str(p))}[/]")


@app.command("gpu-run")
def gpu_run_cmd(
    data_file: Path = typer.Option(..., "--data-file", help="The packed data file (python -m training.teacher prepare)."),
    out_dir: Path = typer.Option(Path("runs/gpu"), "--out", help="Run folder for checkpoints and gpu_run.json."),
    max_seconds: float = typer.Option(400.0, "--max-seconds", min=1.0, max=86400.0,
                                      help="Wall-time budget, loading included (the checkpoint and summary follow)."),
    iterations: int = typer.Option(20000, "--iterations", min=1, max=1_000_000,
                                   help="Schedule length (learning-rate cosine); training stops at the budget."),
    batch: int = typer.Option(32, "--batch", min=2, max=512),
    device: str = typer.Option("auto", "--device", help="cuda, cpu or auto."),
    gpu_share: float = typer.Option(0.5, "--gpu-size-share", min=0.0, max=1.0),
    limit: int = typer.Option(None, "--limit", min=2, help="Use only the first N faces (a smoke test)."),
    seed: int = typer.Option(0, "--seed"),
    distil_share: float = typer.Option(0.2, "--distil-share", min=0.0, max=0.9,
                                       help="Last share of the time in which only the student learns, from the "
                                            "trained teacher (a distillation phase)."),
) -> None:
    """Train the teacher and distil the student on one GPU from the packed file, within --max-seconds."""
    need_torch()
    import torch

    from training.teacher.gpu_run import gpu_run

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cuda", "cpu"):
        raise SettingError(f"--device must be cuda, cpu or auto, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise LivefilterError("--device cuda: this torch sees no CUDA GPU")
    if not data_file.is_file():
        raise LivefilterError(f"packed data file not found: {data_file}")
    from training.teacher.schedule import RECIPE

    threads = 2 if device == "cpu" else 16
    cfg = _config(iterations, batch, seed, threads, device, gpu_share)
    cfg.checkpoint_every = 10 ** 9  # one checkpoint at the end: the budget is minutes
    # the distillation phase has the terms of the recipe's student-only segment, as `rebuild` trains it
    alone = next(seg for seg in reversed(RECIPE) if seg.student_only)
    distil = _config(iterations, batch, seed, threads, device, gpu_share, student_only=True, **alone.options())
    distil.checkpoint_every = cfg.checkpoint_every
    summary = gpu_run(data_file, out_dir, cfg, max_seconds, limit, distil_share=distil_share, distil_cfg=distil)
    out.print(f"{summary['steps']} steps ({summary['distil_steps']} for the student alone) in "
              f"{summary['wall_seconds']} s on {escape(summary['hardware']['name'])}; "
              f"{escape(str(out_dir / 'gpu_run.json'))}")


if __name__ == "__main__":
    main(app, "python -m training.teacher")
