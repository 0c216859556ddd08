"""The detector, input and output registries drive what ``run`` accepts: a kind registered through
them is parsed, opened and listed like the built-in ones, and an unknown name is one clear line."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import av
import pytest

from conftest import REPO_ROOT, read_rgb, shared_path
from fakes import CollectSink
from onnx_looks import make_look
from livefilter.infra.terminal_text import listed
from livefilter.detect import create_tracker
from livefilter.detect import registry as detectors
from livefilter.demo.sample_media import group_photo_path
from livefilter.errors import SettingError
from livefilter.infra.latency import OutputLatency
from livefilter.reliability import ReconnectingSource, ThreadedSink
from livefilter.pipeline.session import PipelineSettings
from livefilter.sinks import registry as sinks
from livefilter.sinks.factory import open_sink, output_kind
from livefilter.sinks.output import open_output
from livefilter.sinks.registry import SinkOptions, SinkSpec
from livefilter.sources import registry as sources
from livefilter.sources.open_input import open_input
from livefilter.sources.registry import SourceSpec
from livefilter.sources.registry import parse_input
from livefilter.sources.spec import InputSpec

VIDEO = ("video", "liveportrait", "d18.mp4")  # 216 frames, 480x480 at 30 fps


def _read(source, limit: int) -> list:
    """Up to ``limit`` frames, fewer at the end of the input."""
    return list(itertools.islice(iter(source.read, None), limit))


def _frame_count(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture
def scratch_registries():
    """Each registry as it was before the test, whatever the test registers."""
    saved = [(module.REGISTRY, dict(module.REGISTRY)) for module in (detectors, sinks, sources)]
    yield
    for registry, entries in saved:
        registry.clear()
        registry.update(entries)


# -- detectors ---------------------------------------------------------------------------------------

def test_a_registered_detector_is_a_choice_and_builds_the_tracker(scratch_registries):
    built = []

    def blazeface_by_another_name(score_threshold, threads, max_faces):
        built.append(score_threshold)
        return detectors.check("blazeface").factory(score_threshold, threads, max_faces)

    detectors.register_detector(detectors.DetectorSpec("fake-det", blazeface_by_another_name, note="for tests"))
    assert detectors.names() == ("blazeface", "insightface", "fake-det")
    assert "fake-det (for tests)" in detectors.help_text()
    PipelineSettings(detector="fake-det").validate()
    with pytest.raises(SettingError) as e:
        PipelineSettings(detector="nope").validate()
    assert str(e.value) == "--detector must be blazeface, insightface or fake-det, got 'nope'"

    tracker = create_tracker(backend="fake-det", score_threshold=0.4)
    assert built == [0.4]
    faces = tracker.update(read_rgb(group_photo_path()))
    assert len(faces) >= 2  # the group photo, through the registered detector and FaceMesh


def test_the_settings_messages_name_the_options_and_the_tracker_its_fields():
    cases = [({"max_faces": 17}, "--max-faces must be between 1 and 16, got 17"),
             ({"detect_every": 0}, "--detect-every must be between 1 and 300, got 0"),
             ({"only": "left"}, "--only must be all, largest or center, got 'left'"),
             ({"tracker_fps": 0.0}, "tracker fps must be positive, got 0.0")]
    for fields, message in cases:
        with pytest.raises(SettingError) as e:
            PipelineSettings(**fields).validate()
        assert str(e.value) == message
    from livefilter.detect import TrackerConfig

    with pytest.raises(SettingError, match="^max_faces must be between 1 and 16, got 17$"):
        TrackerConfig(max_faces=17).validate()


def test_the_tracker_smooths_over_the_frame_rate_in_the_settings(tmp_path):
    from livefilter.looks.registry import LookRegistry
    from livefilter.pipeline.session import build_pipeline

    make_look(tmp_path / "looks", "shift", kind="shift", size=64)
    registry = LookRegistry(dirs=[tmp_path / "looks"])
    settings = PipelineSettings(look="shift", backend="onnxruntime-cpu", tracker_fps=25.0)
    assert settings.tracker_config().fps == 25.0
    pipeline = build_pipeline(settings, registry)
    assert pipeline.tracker.config.fps == 25.0


# -- outputs -----------------------------------------------------------------------------------------

def _collect_spec(collected: list, live: bool = True) -> SinkSpec:
    def opener(output: str, options: SinkOptions):
        sink = CollectSink()
        collected.append((output, options, sink))
        return sink

    return SinkSpec("collect", lambda low: low.startswith("collect:"), opener, "collect:NAME", "collect:NAME",
                    live=live)


def test_a_registered_output_is_recognised_listed_and_opened(scratch_registries):
    collected: list = []
    sinks.register_sink(_collect_spec(collected))
    assert output_kind("  Collect:mine ") == "collect"
    assert "collect:NAME" in sinks.help_text()
    with pytest.raises(SettingError) as e:
        output_kind("printer")
    assert str(e.value).endswith("an rtmp:// URL, preview, null or collect:NAME")
    assert output_kind("rtmp://example.org/live/key.mp4") == "stream" and output_kind("x.MKV") == "file"

    source = open_input(str(shared_path(*VIDEO)), size=(160, 160))
    latency = OutputLatency()
    try:
        out = open_output("collect:mine", SinkOptions(source.info), latency)
        assert isinstance(out.sink, ThreadedSink) and out.dropped == 0  # live: its own writer thread
        for frame in _read(source, 12):
            out.sink.write(frame.image, frame)
        out.close()
    finally:
        source.close()
    (name, options, sink), = collected
    assert name == "collect:mine" and options.info.width == 160
    assert 1 <= len(sink.frames) <= 12 and sink.frames[-1].shape == (160, 160, 3)
    assert len(sink.frames) + out.dropped == 12
    assert latency.summary()["n"] == len(sink.frames)  # each frame written was timed, inside the thread


def test_a_file_output_is_written_in_the_run_s_thread_every_frame_kept(tmp_path):
    video = shared_path(*VIDEO)
    source = open_input(str(video))
    target = tmp_path / "out.mp4"
    latency = OutputLatency()
    try:
        out = open_output(str(target), SinkOptions(source.info, inputs=(str(video),)), latency)
        assert out.threaded is None and out.dropped is None and not out.spec.live and out.spec.path_target
        frames = _read(source, 20)
        for frame in frames:
            out.sink.write(frame.image, frame)
        out.close()
    finally:
        source.close()
    assert _frame_count(target) == len(frames) == 20
    assert latency.summary()["n"] == 20  # every write timed (capture -> written)
    with pytest.raises(SettingError, match="unknown --output"):
        open_sink("printer", source.info)


# -- inputs ------------------------------------------------------------------------------------------

def test_open_input_reads_a_file_to_its_end_scaled_and_looped():
    video = shared_path(*VIDEO)
    total = _frame_count(video)
    source = open_input(str(video), size=(240, 240))  # a file: the decoder scales
    try:
        assert not source.info.is_live and not isinstance(source, ReconnectingSource)
        frames = _read(source, total + 10)
        assert len(frames) == total and frames[0].image.shape == (240, 240, 3)
    finally:
        source.close()
    looped = open_input(parse_input(str(video)), loop=True)
    try:
        frames = _read(looped, total + 5)
        assert len(frames) == total + 5 and frames[-1].index == total + 4
    finally:
        looped.close()
    with pytest.raises(SettingError, match="--decode nvdec is not possible: the pipeline does not run on a CUDA"):
        open_input(str(video), decode="nvdec", pipeline_device=None)


def test_a_registered_input_kind_is_parsed_opened_and_kept_alive_when_live(scratch_registries):
    clips = {"d18": str(shared_path(*VIDEO))}

    def clip(value: str, system: str) -> InputSpec:
        return InputSpec("clip", clips[value.split(":", 1)[1]])

    def live_clip(value: str, system: str) -> InputSpec:
        return InputSpec("liveclip", clips[value.split(":", 1)[1]])

    sources.register_source(SourceSpec("clip", clip, lambda v: v.startswith("clip:"), live=False))
    sources.register_source(SourceSpec("liveclip", live_clip, lambda v: v.startswith("liveclip:")))
    spec = parse_input(" clip:d18 ", size=(64, 64), fps=15)
    assert spec.kind == "clip" and not spec.is_live and spec.options == {}  # not a capture device
    assert parse_input(clips["d18"]).kind == "file"  # a path is still a file: the fallback comes last

    source = open_input(spec, size=(128, 128))
    try:
        frames = _read(source, 3)
        assert [f.image.shape for f in frames] == [(128, 128, 3)] * 3
    finally:
        source.close()
    live = open_input("liveclip:d18")
    try:
        assert isinstance(live, ReconnectingSource) and live.info.is_live
        assert _read(live, 3)[-1].image.shape == (480, 480, 3)
    finally:
        live.close()


# -- through the command -----------------------------------------------------------------------------

REGISTERING_MAIN = textwrap.dedent('''
    import sys
    from pathlib import Path

    from livefilter.detect import registry as detectors
    from livefilter.sinks.registry import SinkSpec, register_sink

    marker = Path(sys.argv.pop(1))


    class CountingSink:
        closed = False

        def __init__(self):
            self.frames = 0

        def write(self, image, frame):
            self.frames += 1

        def close(self):
            marker.write_text(f"frames {self.frames}")


    def blazeface_by_another_name(score_threshold, threads, max_faces):
        marker.with_suffix(".detector").write_text("built")
        return detectors.check("blazeface").factory(score_threshold, threads, max_faces)


    detectors.register_detector(detectors.DetectorSpec("fake-det", blazeface_by_another_name, note="for tests"))
    register_sink(SinkSpec("count", lambda low: low == "count", lambda output, options: CountingSink(),
                           "count", "count"))

    from livefilter.cli import main

    sys.argv[0] = "livefilter"
    main()
''')


def _registering_cli(tmp_path, *args):
    home = tmp_path / "home"
    if not (home / "data" / "looks" / "shift").exists():
        make_look(home / "data" / "looks", "shift", kind="shift", size=64)
    env = dict(os.environ, LIVEFILTER_HOME=str(home), COLUMNS="250")
    return subprocess.run([sys.executable, "-c", REGISTERING_MAIN, str(tmp_path / "marker"), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300)


def test_run_takes_its_detector_and_output_choices_from_the_registries(tmp_path):
    video = shared_path(*VIDEO)
    shown = _registering_cli(tmp_path, "run", "--help")
    assert shown.returncode == 0, shown.stderr
    flat = " ".join(shown.stdout.replace("│", " ").split())
    assert "fake-det (for tests)" in flat and "| null | count." in flat

    bad = _registering_cli(tmp_path, "run", "-i", video, "-o", "count", "--detector", "nope", "--no-control")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "error: --detector must be " + listed(("blazeface", "insightface", "fake-det")) \
        + ", got 'nope'"

    ran = _registering_cli(tmp_path, "run", "-i", video, "-o", "count", "--detector", "fake-det", "--look", "shift",
                           "--max-frames", "6", "--no-control", "--backend", "onnxruntime-cpu")
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "marker.detector").read_text() == "built"
    written = int((tmp_path / "marker").read_text().split()[1])
    assert "6 frames in" in ran.stdout and "dropped at output" in ran.stdout  # a live output: threaded
    dropped = int(ran.stdout.split("dropped at output: ")[1].split()[0])
    assert written + dropped == 6


def test_run_prints_paths_as_written_never_as_markup(tmp_path):
    video = shared_path(*VIDEO)
    target = tmp_path / "[bold]take [red]1.mp4"
    r = _registering_cli(tmp_path, "run", "-i", video, "-o", target, "--look", "shift", "--max-frames", "3",
                         "--no-control", "--backend", "onnxruntime-cpu")
    assert r.returncode == 0, r.stderr
    assert "[bold]take [red]1.mp4" in " ".join(r.stdout.split())
    assert _frame_count(target) == 3


# -- the dependency rule (ARCHITECTURE.md) -------------------------------------------------------------

def test_only_the_command_line_imports_exporters_training_or_benchmarks():
    import ast

    offenders = []
    for path in (REPO_ROOT / "livefilter").rglob("*.py"):
        if (REPO_ROOT / "livefilter" / "cli") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.relative_to(REPO_ROOT)}: {n}" for n in names
                          if n.split(".")[0] in ("exporters", "training", "benchmarks")]
    assert not offenders, offenders
