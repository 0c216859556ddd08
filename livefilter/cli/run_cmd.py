"""``livefilter run``: camera / file / stream / screen -> look -> virtual camera / file / RTMP / preview."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from livefilter.cli import app
from livefilter.atomic import check_distinct, check_target
from livefilter.choices import MAX_FACES, ONLY_MODES, PIXEL_FORMATS, listed
from livefilter.cli.common import edits_from_options, out, stop_on_signals
from livefilter.cli.run_checks import check_run_options, run_limits
from livefilter.control import HOTKEYS_HELP
from livefilter.control.live import LiveControl
from livefilter.looks.registry import LookRegistry
from livefilter.obs import for_run as obs_for_run
from livefilter.profiles import ProfileStore, apply_profile_to_settings
from livefilter.session import PipelineSettings, build_pipeline
from livefilter.reliability import ReconnectingSource, ThreadedSink
from livefilter.sinks import open_sink
from livefilter.sinks.file_sink import FileSink
from livefilter.sinks.latency_probe import LatencyProbeSink
from livefilter.sinks.pixel_format import PLANAR
from livefilter.sinks.virtualcam_sink import default_pixel_format
from livefilter.sources import open_source, parse_input
from livefilter.sources.device_source import choose_decode, open_decode_source
from livefilter.sources.spec import parse_size
from livefilter.translate import backends

log = logging.getLogger(__name__)


@app.command()
def run(
    input: str = typer.Option("0", "--input", "-i", help="Camera index (0), device path (/dev/video0), video file, rtsp:// URL, or 'screen'."),
    output: str = typer.Option("virtualcam", "--output", "-o", help="virtualcam | obs | FILE.mp4 | rtmp://URL | preview | null."),
    look: str = typer.Option(None, "--look", "-l", help="Look name (see `livefilter looks list`) or a look folder / .lfpack."),
    strength: float = typer.Option(None, "--strength", "-s", help="Look strength 0..1 (default: the look's own)."),
    size: str = typer.Option(None, "--size", help="Capture / processing size WxH, e.g. 1280x720."),
    fps: float = typer.Option(None, "--fps", help="Camera frame rate to request (1..240)."),
    max_faces: int = typer.Option(4, "--max-faces", help=f"Most faces styled per frame (1..{MAX_FACES})."),
    only: str = typer.Option("all", "--only", help=f"Which faces: {listed(ONLY_MODES)}."),
    backend: str = typer.Option("auto", "--backend", help=backends.help_text()),
    decode: str = typer.Option("auto", "--decode", help="auto | cpu | nvdec: decode a video file on the GPU (torchcodec) so its frames never touch host memory; auto uses it with a CUDA pipeline when installed."),
    fuse: bool = typer.Option(None, "--fuse/--no-fuse", help="GPU pipeline: compile the frame-sized pixel-format conversion into a fused kernel (torch.compile; default on with CUDA, compiled once per resolution)."),
    detect_every: int = typer.Option(10, "--detect-every", help="Run the full detector every N frames; track in between."),
    detector: str = typer.Option("blazeface", "--detector", help="blazeface (bundled) or insightface (needs its model pack)."),
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
    temporal: float = typer.Option(0.5, "--temporal", help="Blend each face's look over frames (0 = off .. 0.95) against flicker."),
    budget_ms: float = typer.Option(250.0, "--budget-ms", help="Live inputs: a face translation slower than this passes the frame through (1..10000)."),
    # -- live control (livefilter.control, livefilter.profiles) --
    control: bool = typer.Option(True, "--control/--no-control", help="Serve the control panel / HTTP API on 127.0.0.1 (URL with its token is printed)."),
    control_port: int = typer.Option(None, "--control-port", help="Control server port (default: your stable one, see `livefilter control`; 0: any free port)."),
    profile: str = typer.Option(None, "--profile", help="Start with a saved profile (look, strength, colour edits)."),
    # -- OBS (livefilter.obs) --
    obs: str = typer.Option(None, "--obs", help="Follow OBS scenes through obs-websocket, e.g. ws://127.0.0.1:4455 (see `livefilter obs map`)."),
    obs_password_file: str = typer.Option(None, "--obs-password-file", help="File holding the OBS WebSocket password."),
    obs_sync_input: str = typer.Option(None, "--obs-sync-input", help="Set this OBS audio input's Sync Offset to the measured added latency (opt-in)."),
) -> None:
    """Apply a look to every face of a live feed or a video file."""
    kind = check_run_options(output=output, fps=fps, duration=duration, max_frames=max_frames,
                             pixel_format=pixel_format, budget_ms=budget_ms, vcam_device=vcam_device,
                             control_port=control_port)
    settings = PipelineSettings(
        look=look, strength=strength, max_faces=max_faces, only=only, backend=backend,
        detect_every=detect_every, edits=edits_from_options(brightness, contrast, saturation, warmth),
        temporal=temporal, detector=detector, fuse=fuse,
    )
    settings.validate()
    if profile is not None:  # live control: the profile fills in what the options left open
        apply_profile_to_settings(settings, ProfileStore().get(profile))
    settings.validate()
    obs_plan = obs_for_run.prepare(obs, obs_password_file, obs_sync_input)
    wh = parse_size(size)
    spec = parse_input(input, size=wh, fps=fps)
    inputs = (spec.target,) if spec.kind == "file" else ()
    if kind == "file":  # before anything is loaded: an existing output, or the input itself, is refused
        check_distinct(check_target(Path(output.strip()), overwrite=overwrite), *inputs)
    if spec.is_live:
        settings.translate_budget_ms = budget_ms
    if kind == "virtualcam":
        # a device pipeline converts to the camera's I420 / NV12 on the GPU and downloads half the bytes
        fmt = (pixel_format or default_pixel_format("obs" if output.lower() == "obs" else None)).upper()
        settings.output_format = fmt if fmt in PLANAR else "RGB"
    with ExitStack() as stack:
        _run(stack, spec, settings, output=output, size=wh, decode=decode, loop=loop, control=control,
             control_port=control_port, profile=profile, overwrite=overwrite, vcam_device=vcam_device,
             pixel_format=pixel_format, inputs=inputs, max_frames=max_frames, duration=duration, obs_plan=obs_plan)


def _run(stack: ExitStack, spec, settings: PipelineSettings, *, output: str, size, decode: str, loop: bool,
         control: bool, control_port: int, profile: str | None, overwrite: bool, vcam_device: str | None,
         pixel_format: str | None, inputs: tuple[str, ...], max_frames: int | None, duration: float | None,
         obs_plan=None) -> None:
    """Open everything (each closed by ``stack`` however the run ends: the sink first), run, report."""
    registry = LookRegistry()
    pipeline = build_pipeline(settings, registry)
    scale = size if spec.kind in ("file", "url") else None
    device = getattr(pipeline, "device", None)
    if choose_decode(decode, spec, device.type if device is not None else None, scale) == "nvdec":
        source = open_decode_source(spec, loop=loop)
    elif spec.is_live:
        # A lost camera or stream: keep sending the last frame (badged) and reconnect with back-off.
        source = ReconnectingSource(lambda: open_source(spec, size=scale))
    else:
        source = open_source(spec, size=scale, loop=loop)
    stack.callback(source.close)
    live = LiveControl(pipeline, registry, serve=control, port=control_port, profile=profile)
    stack.callback(live.close)
    sink = open_sink(output, source.info, overwrite=overwrite, stats=pipeline.stats, vcam_device=vcam_device,
                     pixel_format=pixel_format, on_key=live.on_key, inputs=inputs)
    measured = LatencyProbeSink(sink, pipeline.stats.output_latency)  # capture -> output write
    if not isinstance(sink, FileSink) or sink.is_stream:
        measured = ThreadedSink(measured)  # a blocked consumer drops frames instead of stalling the pipeline
    sink = measured
    stack.callback(sink.close)
    if obs_plan is not None:
        obs_run = obs_plan.start(live.controller, pipeline.stats.output_latency, obs_for_run.notify_line(out))
        stack.callback(obs_run.close)
    info = source.info
    limits = run_limits(max_frames, duration, info)
    tracker_config = getattr(pipeline.tracker, "config", None)
    if not info.is_live and tracker_config is not None:
        # a file plays on its own clock: smooth landmarks over frame times, not processing times
        tracker_config.fps = info.fps
    rt = pipeline.runtime(pipeline.controls.look)
    out.print(
        f"[bold]livefilter[/] {info.description} {info.width}x{info.height}@{info.fps:.2f} -> {output}  "
        f"look [cyan]{rt.look.name}[/] strength {pipeline.controls.strength:.2f}  backend {rt.translator.name}",
        highlight=False,
    )
    if live.url is not None:
        out.print(f"control panel [dim](keep this address private)[/]: [link={live.url}]{live.url}[/link]",
                  highlight=False, soft_wrap=True)
    if output.strip().lower() == "preview":
        out.print(f"[dim]{HOTKEYS_HELP}[/]", highlight=False)
    t0 = time.perf_counter()
    with stop_on_signals() as stop:
        total = info.frame_count if not info.is_live and not loop else None
        if total or not info.is_live:
            with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                          MofNCompleteColumn(), TimeRemainingColumn(), console=out, transient=True) as bar:
                task = bar.add_task("filtering", total=limits.max_frames or total)
                n = pipeline.run(source, sink, max_frames=limits.max_frames, duration=limits.wall_seconds,
                                 stop=stop, progress=lambda i: bar.update(task, completed=i), on_frame=live.on_frame)
        else:
            out.print("[dim]live — press Ctrl-C to stop[/]")
            n = pipeline.run(source, sink, max_frames=limits.max_frames, duration=limits.wall_seconds, stop=stop,
                             on_frame=live.on_frame)
        stack.close()  # finalise the output (and stop the control server) before the report; a signal waits
    elapsed = time.perf_counter() - t0
    out.print(pipeline.stats.table())
    errors = ", ".join(f"{k}×{v}" for k, v in pipeline.stats.errors.items()) or "none"
    out.print(
        f"{n} frames in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.1f} fps); dropped at source: {source.dropped}; "
        f"passed through after errors: {pipeline.stats.passthrough} ({errors}); decode errors: {source.decode_errors}"
        + (f"; dropped at output: {sink.dropped}" if isinstance(sink, ThreadedSink) else ""),
        highlight=False,
    )
    if isinstance(sink, ThreadedSink):  # live outputs (a file is written as fast as it goes: no delay to match)
        out.print(obs_for_run.latency_summary(pipeline.stats.output_latency), highlight=False)
