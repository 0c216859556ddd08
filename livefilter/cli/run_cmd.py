"""``livefilter run``: camera / file / stream / screen -> look -> virtual camera / file / RTMP / preview.

``run`` checks every option and builds the settings; ``_run`` opens the input (``sources/open_input.py``),
builds the pipeline, opens the live control and the output (``sinks/output.py``), each closed by one
``ExitStack`` however the run ends (the output first), then ``_process`` runs and ``_report`` reports.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from livefilter.finish.settings import FinishSettings
from livefilter.cli import app
from livefilter.infra.atomic import check_distinct, check_target
from livefilter.settings.choices import MAX_FACES, ONLY_MODES, PIXEL_FORMATS
from livefilter.infra.terminal_text import listed
from livefilter.cli.common import edits_from_options, out, stop_on_signals
from livefilter.cli.options import (BackendOption, BackgroundFileOption, BackgroundOption, BlurOption, GradeOption,
                                     GradeStrengthOption, LookOption)
from livefilter.cli.run_checks import check_run_options, run_limits
from livefilter.control import HOTKEYS_HELP
from livefilter.control.live import LiveControl
from livefilter.detect import registry as detectors
from livefilter.looks.registry import LookRegistry
from livefilter.obs import for_run as obs_for_run
from livefilter.settings.profiles import ProfileStore, apply_profile_to_settings
from livefilter.protocols import Source
from livefilter.pipeline.session import PipelineSettings, build_pipeline, decode_device
from livefilter.sinks import registry as sinks
from livefilter.sinks.output import Output, open_output
from livefilter.sinks.pixel_format import PLANAR
from livefilter.sinks.registry import SinkOptions, SinkSpec
from livefilter.sources.decoders import DECODE_MODES
from livefilter.sources.open_input import open_input
from livefilter.sources.registry import parse_input
from livefilter.sources.spec import InputSpec, parse_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    """What ``run`` opens and how, decided before anything is loaded."""

    input: InputSpec
    output: str
    output_spec: SinkSpec
    size: tuple[int, int] | None
    decode: str
    loop: bool
    overwrite: bool
    vcam_device: str | None
    pixel_format: str | None
    max_frames: int | None
    duration: float | None

    @property
    def inputs(self) -> tuple[str, ...]:
        """Input files, never to be written over."""
        return (self.input.target,) if self.input.kind == "file" else ()


def finish_from_options(strength: float | None, under_eye: float | None) -> FinishSettings | None:
    """``--finish`` / ``--under-eye``: None (the look's own finish) unless one is given."""
    if strength is None and under_eye is None:
        return None
    return FinishSettings(strength=0.0 if strength is None else strength, under_eye=0.0 if under_eye is None else under_eye)


@app.command()
def run(
    input: str = typer.Option("0", "--input", "-i", help="Camera index (0), device path (/dev/video0), video file, rtsp:// URL, or 'screen'."),
    output: str = typer.Option("virtualcam", "--output", "-o", help=sinks.help_text()),
    look: LookOption = None,
    strength: float = typer.Option(None, "--strength", "-s", help="Look strength 0..1 (default: the look's own)."),
    finish: float = typer.Option(None, "--finish", help="Skin finish 0..1: smoother skin, features kept sharp (default: the look's own; either finish option replaces it)."),
    under_eye: float = typer.Option(None, "--under-eye", help="Skin finish: lift dark circles towards the skin below them, 0..1."),
    size: str = typer.Option(None, "--size", help="Capture / processing size WxH, e.g. 1280x720."),
    fps: float = typer.Option(None, "--fps", help="Camera frame rate to request (1..240)."),
    max_faces: int = typer.Option(4, "--max-faces", help=f"Most faces styled per frame (1..{MAX_FACES})."),
    only: str = typer.Option("all", "--only", help=f"Which faces: {listed(ONLY_MODES)}."),
    backend: BackendOption = "auto",
    decode: str = typer.Option("auto", "--decode", help=f"{' | '.join(DECODE_MODES)}: decode a video file on the GPU (torchcodec) so its frames never touch host memory; auto uses it with a CUDA pipeline when installed."),
    fuse: bool = typer.Option(None, "--fuse/--no-fuse", help="GPU pipeline: compile the frame-sized pixel-format conversion into a fused kernel (torch.compile; default on with CUDA, compiled once per resolution)."),
    detect_every: int = typer.Option(10, "--detect-every", help="Run the full detector every N frames; track in between."),
    detector: str = typer.Option("blazeface", "--detector", help=detectors.help_text()),
    brightness: float = typer.Option(None, help="Post-edit -1..1."),
    contrast: float = typer.Option(None, help="Post-edit -1..1."),
    saturation: float = typer.Option(None, help="Post-edit -1..1."),
    warmth: float = typer.Option(None, help="Colour temperature post-edit -1..1."),
    duration: float = typer.Option(None, "--duration", help="Stop after this many seconds: of the video for a file input (media time, however fast it is processed), of wall-clock time for a live input."),
    max_frames: int = typer.Option(None, "--max-frames", help="Stop after this many frames (at least 1)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    loop: bool = typer.Option(False, "--loop", help="Loop a file input (soak tests, demos)."),
    vcam_device: str = typer.Option(None, "--vcam-device", help="Virtual camera device (e.g. /dev/video10)."),
    pixel_format: str = typer.Option(None, "--pixel-format", help=f"Virtual camera pixel format: {', '.join(PIXEL_FORMATS)}."),
    background: BackgroundOption = None,
    blur: BlurOption = 0.6,
    background_file: BackgroundFileOption = None,
    grade: GradeOption = True,
    grade_strength: GradeStrengthOption = None,
    temporal: float = typer.Option(0.5, "--temporal", help="Blend each face's look over frames (0 = off .. 0.95) against flicker."),
    budget_ms: float = typer.Option(250.0, "--budget-ms", help="Live inputs: a face translation slower than this passes the frame through (1..10000)."),
    # -- live control (livefilter.control, livefilter.settings.profiles) --
    control: bool = typer.Option(True, "--control/--no-control", help="Serve the control panel / HTTP API on 127.0.0.1 (URL with its token is printed)."),
    control_port: int = typer.Option(None, "--control-port", help="Control server port (default: your stable one, see `livefilter control`; 0: any free port)."),
    profile: str = typer.Option(None, "--profile", help="Start with a saved profile (look, strength, colour edits)."),
    # -- OBS (livefilter.obs) --
    obs: str = typer.Option(None, "--obs", help="Follow OBS scenes through obs-websocket, e.g. ws://127.0.0.1:4455 (see `livefilter obs map`)."),
    obs_password_file: str = typer.Option(None, "--obs-password-file", help="File holding the OBS WebSocket password."),
    obs_sync_input: str = typer.Option(None, "--obs-sync-input", help="Set this OBS audio input's Sync Offset to the measured added latency (opt-in)."),
) -> None:
    """Apply a look to every face of a live feed or a video file."""
    output_spec = check_run_options(output=output, fps=fps, duration=duration, max_frames=max_frames,
                                    pixel_format=pixel_format, budget_ms=budget_ms, vcam_device=vcam_device,
                                    control_port=control_port)
    settings = PipelineSettings(
        look=look, strength=strength, max_faces=max_faces, only=only, backend=backend,
        detect_every=detect_every, edits=edits_from_options(brightness, contrast, saturation, warmth),
        temporal=temporal, detector=detector, fuse=fuse, finish=finish_from_options(finish, under_eye),
        background=background, blur=blur,
        background_file=Path(background_file) if background_file else None, grade=grade, grade_strength=grade_strength,
    ).validate()
    if profile is not None:  # live control: the profile fills in what the options left open
        apply_profile_to_settings(settings, ProfileStore().get(profile))
        settings.validate()
    obs_plan = obs_for_run.prepare(obs, obs_password_file, obs_sync_input)
    wh = parse_size(size)
    plan = RunPlan(parse_input(input, size=wh, fps=fps), output, output_spec, wh, decode, loop, overwrite,
                   vcam_device, pixel_format, max_frames, duration)
    if output_spec.path_target:  # before anything is loaded: an existing output, or the input itself, is refused
        check_distinct(check_target(Path(output.strip()), overwrite=overwrite), *plan.inputs)
    if plan.input.is_live:
        settings.translate_budget_ms = budget_ms
    if output_spec.pixel_format is not None:
        # a device pipeline converts to the camera's I420 / NV12 on the GPU and downloads half the bytes
        fmt = output_spec.pixel_format(output, pixel_format)
        settings.output_format = fmt if fmt in PLANAR else "RGB"
    with ExitStack() as stack:
        _run(stack, plan, settings, control=control, control_port=control_port, profile=profile, obs_plan=obs_plan)


def _open_input(stack: ExitStack, plan: RunPlan, settings: PipelineSettings) -> Source:
    source = open_input(plan.input, size=plan.size, decode=plan.decode, pipeline_device=decode_device(settings),
                        loop=plan.loop)
    return stack.enter_context(closing(source))


def _run(stack: ExitStack, plan: RunPlan, settings: PipelineSettings, *, control: bool, control_port: int | None,
         profile: str | None, obs_plan=None) -> None:
    """Open everything (each closed by ``stack`` however the run ends: the output first), run, report."""
    source = None
    if not plan.input.is_live:
        # a file waits for its reader, so it opens first: it plays on its own clock, and the tracker
        # smooths landmarks over its frame times, not processing times
        source = _open_input(stack, plan, settings)
        settings.tracker_fps = source.info.fps
    registry = LookRegistry()
    pipeline = build_pipeline(settings, registry)
    if source is None:  # a live input opens once the pipeline can read it (no frames dropped meanwhile)
        source = _open_input(stack, plan, settings)
    live = stack.enter_context(closing(LiveControl(pipeline, registry, serve=control, port=control_port,
                                                   profile=profile)))
    options = SinkOptions(source.info, overwrite=plan.overwrite, stats=pipeline.stats, vcam_device=plan.vcam_device,
                          pixel_format=plan.pixel_format, on_key=live.on_key, inputs=plan.inputs)
    output = stack.enter_context(closing(open_output(plan.output, options, pipeline.stats.output_latency)))
    if obs_plan is not None:
        stack.enter_context(closing(obs_plan.start(live.controller, pipeline.stats.output_latency,
                                                   obs_for_run.notify_line(out))))
    _announce(plan, source, pipeline, live)
    t0 = time.perf_counter()
    with stop_on_signals() as stop:
        n = _process(plan, source, pipeline, output, live, stop)
        stack.close()  # finalise the output (and stop the control server) before the report; a signal waits
    _report(n, time.perf_counter() - t0, source, pipeline, output)


def _announce(plan: RunPlan, source: Source, pipeline, live: LiveControl) -> None:
    info = source.info
    rt = pipeline.runtime(pipeline.controls.look)
    out.print(
        f"[bold]livefilter[/] {escape(info.description)} {info.width}x{info.height}@{info.fps:.2f} -> "
        f"{escape(plan.output)}  look [cyan]{escape(rt.look.name)}[/] strength {pipeline.controls.strength:.2f}  "
        f"backend {escape(rt.translator.name)}",
        highlight=False,
    )
    if live.url is not None:
        out.print(f"control panel [dim](keep this address private)[/]: [link={live.url}]{live.url}[/link]",
                  highlight=False, soft_wrap=True)
    if plan.output_spec.hotkeys:
        out.print(f"[dim]{HOTKEYS_HELP}[/]", highlight=False)


def _process(plan: RunPlan, source: Source, pipeline, output: Output, live: LiveControl, stop) -> int:
    """Run the pipeline until the input ends, a limit is reached or ``stop`` is set; frames processed."""
    info = source.info
    limits = run_limits(plan.max_frames, plan.duration, info)
    total = info.frame_count if not info.is_live and not plan.loop else None
    if not total and info.is_live:
        out.print("[dim]live — press Ctrl-C to stop[/]")
        return pipeline.run(source, output.sink, max_frames=limits.max_frames, duration=limits.wall_seconds,
                            stop=stop, on_frame=live.on_frame)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(), console=out, transient=True) as bar:
        task = bar.add_task("filtering", total=limits.max_frames or total)
        return pipeline.run(source, output.sink, max_frames=limits.max_frames, duration=limits.wall_seconds,
                            stop=stop, progress=lambda i: bar.update(task, completed=i), on_frame=live.on_frame)


def _report(n: int, elapsed: float, source: Source, pipeline, output: Output) -> None:
    out.print(pipeline.stats.table())
    errors = ", ".join(f"{k}×{v}" for k, v in pipeline.stats.errors.items()) or "none"
    out.print(
        f"{n} frames in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.1f} fps); dropped at source: {source.dropped}; "
        f"passed through after errors: {pipeline.stats.passthrough} ({escape(errors)}); "
        f"decode errors: {source.decode_errors}"
        + (f"; dropped at output: {output.dropped}" if output.dropped is not None else ""),
        highlight=False,
    )
    if output.spec.live:  # a file is written as fast as it goes: no delay to match
        out.print(obs_for_run.latency_summary(pipeline.stats.output_latency), highlight=False)
