"""Build a ready-to-run pipeline from user settings (shared by run, demo and bench)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from livefilter.finish.settings import FinishSettings
from livefilter.settings.choices import DEVICE_OUTPUT_FORMATS, TRANSLATE_BUDGET_MS
from livefilter.infra.terminal_text import listed
from livefilter.errors import SettingError
from livefilter.looks.pack import ColorEdits, Look
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import LiveControls, Pipeline, check_strength
from livefilter.protocols import Translator
from livefilter.infra.stats import StageStats

log = logging.getLogger(__name__)


@dataclass
class PipelineSettings:
    look: str | None = None
    strength: float | None = None  # None: the look's default
    edits: ColorEdits | None = None  # None: the look's default
    finish: FinishSettings | None = None  # the skin finish (livefilter.finish); None: the look's own
    max_faces: int = 4
    backend: str = "auto"
    detect_every: int = 10
    only: str = "all"  # all | largest | center
    detector: str = "blazeface"
    translate_budget_ms: float | None = None  # live runs: a late translation passes the frame through
    temporal: float = 0.0  # temporal blending of stylised crops (0 = off, up to 0.95)
    output_format: str = "RGB"  # device pipeline: convert to I420 / NV12 on the GPU for the sink
    device_face_stage: bool = True  # device pipeline: BlazeFace + FaceMesh on the GPU's upload
    fuse: bool | None = None  # device pipeline: torch.compile'd pixel-format conversion (None: on CUDA only)
    tracker_fps: float | None = None  # a file's frame rate: landmarks smoothed over media time (None: wall clock)
    placement: bool = True  # makeup placed exactly in frame pixels (livefilter.composite.placement); off: the raw residual
    scene: bool = True  # the scene stage (livefilter.scene: background, grade); off: neither, whatever the look says
    background: str | None = None  # keep | blur | replace; None: the look's own (else keep)
    blur: float = 0.6  # background blur strength 0..1
    background_file: Path | None = None  # the replacement image or video (--background replace)
    grade: bool = True  # apply the look's colour grade
    grade_strength: float | None = None  # None: the look's own
    segment_smoothing: float = 0.8  # temporal smoothing of the person mask (0..1)

    def validate(self) -> "PipelineSettings":
        """Check every setting before anything is loaded, each by the stage that owns it (the tracker's
        config, the detector registry, the look's edits); messages name the ``run`` options."""
        from livefilter.detect import registry as detectors

        if self.look is not None and (not isinstance(self.look, str) or not self.look.strip()):
            raise SettingError("--look is empty: give a look name (see `livefilter looks list`) or a look folder")
        # the pipeline checks it again when it is built (pipeline.py); here it fails before any loading
        if not isinstance(self.temporal, (int, float)) or not 0.0 <= self.temporal <= 0.95:
            raise SettingError(f"--temporal must be between 0 and 0.95, got {self.temporal}")
        if self.strength is not None:
            check_strength(self.strength)
        try:
            self.scene_controls().validate()
            self.segment_config().validate()
        except ValueError as e:
            raise SettingError(str(e)) from None
        if self.background == "replace":
            if not Path(self.background_file).is_file():
                raise SettingError(f"--background-file {self.background_file} is not a file")
            from livefilter.scene.background import BackgroundConfig, BackgroundStage

            BackgroundStage(BackgroundConfig("replace", self.blur, Path(self.background_file))).close()  # readable?
        self.tracker_config().validate(_OPTION_NAMES)  # --detect-every, --max-faces (the pipeline's limit too), --only
        detectors.check(self.detector, "--detector")
        if self.edits is not None:
            self.edits.validate()
        if self.finish is not None:
            self.finish.validate()
        if self.output_format not in DEVICE_OUTPUT_FORMATS:
            raise SettingError(f"output format must be {listed(DEVICE_OUTPUT_FORMATS)}, got {self.output_format!r}")
        lo, hi = TRANSLATE_BUDGET_MS
        if self.translate_budget_ms is not None and not lo <= self.translate_budget_ms <= hi:  # also NaN
            raise SettingError(f"translate budget must be {lo:g}..{hi:g} ms, got {self.translate_budget_ms}")
        return self

    def scene_controls(self):
        """The live scene settings (``scene/stage.py`` ``SceneControls``) this run starts with."""
        from livefilter.scene.stage import SceneControls

        return SceneControls(background=self.background, blur=self.blur, source=self.background_file,
                             grade=self.grade, grade_strength=self.grade_strength)

    def segment_config(self):
        from livefilter.scene.segment import SegmentConfig

        return SegmentConfig(smoothing=self.segment_smoothing)

    def tracker_config(self):
        """The face tracker's settings (``detect/tracker.py`` ``TrackerConfig``) for this run."""
        from livefilter.detect.tracker import TrackerConfig

        return TrackerConfig(detect_every=self.detect_every, max_faces=self.max_faces, only=self.only,
                             fps=self.tracker_fps)


# the tracker's fields as ``run`` calls them, for its messages
_OPTION_NAMES = {"detect_every": "--detect-every", "max_faces": "--max-faces", "only": "--only", "fps": "tracker fps"}


def _cuda_torch() -> bool:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def make_translator(look: Look, backend: str = "auto", max_faces: int = 4) -> Translator:
    from livefilter.translate.select import create_translator

    return create_translator(look, backend=backend, max_faces=max_faces)


def _budgeted(translator: Translator, budget_ms: float | None) -> Translator:
    if budget_ms is None:
        return translator
    from livefilter.reliability.time_budget import TimeBudgetTranslator

    return TimeBudgetTranslator(translator, budget_ms)


def make_tracker(settings: PipelineSettings):
    from livefilter.detect import create_tracker

    return create_tracker(settings.tracker_config(), backend=settings.detector)


def pipeline_device(settings: PipelineSettings) -> str | None:
    """The torch device the pixel stages run on ("cuda", "cpu" for torch-cpu), or None (host pipeline):
    the backend's ``device`` in the registry (``translate/backends.py``), "cuda" only where torch has CUDA."""
    from livefilter.translate import backends

    return backends.pipeline_device(settings.backend, _cuda_torch)


def uses_device_face_stage(settings: PipelineSettings) -> bool:
    """Whether the faces are found on the device's upload (a device pipeline with a detector that has
    a device twin), so frames may arrive already on the device."""
    from livefilter.detect import registry as detectors

    return (pipeline_device(settings) is not None and settings.device_face_stage
            and detectors.check(settings.detector).device_twin)


def decode_device(settings: PipelineSettings) -> str | None:
    """The device type a decoder may hand frames to: the pipeline's device, but only where the face stage
    reads device frames (a host face stage needs host frames, so GPU decoding would fail every frame)."""
    return pipeline_device(settings) if uses_device_face_stage(settings) else None


def build_pipeline(
    settings: PipelineSettings,
    registry: LookRegistry | None = None,
    stats: StageStats | None = None,
    tracker=None,
) -> Pipeline:
    from livefilter.translate import backends

    settings.validate()
    registry = registry or LookRegistry()
    device = pipeline_device(settings)
    # GPU backends run a look at its device input size (the same network, larger crops)
    spec = backends.get(settings.backend)
    gpu = device == "cuda" or (spec is not None and spec.needs_gpu)
    look = (registry.get(settings.look) if settings.look else registry.default()).sized_for(gpu)
    loaded: dict[str, Look] = {look.name: look}

    def get_look(name: str) -> Look:
        if name not in loaded:
            loaded[name] = registry.get(name).sized_for(gpu)
        return loaded[name]

    styling = None  # the host styling
    if device is not None:
        # On an NVIDIA GPU with torch, every pixel stage runs on the device (one upload, one download).
        from livefilter.pipeline.device import DeviceStyling

        # "auto" keeps its order here too (TensorRT FP16 -> torch CUDA FP16 -> onnxruntime CUDA ->
        # onnxruntime CPU): TensorRT and torch run on the device tensors, onnxruntime on the host frame
        styling = DeviceStyling(device, settings.output_format, settings.fuse,
                                # a backend chosen for its device ability must have it
                                device_translators_only=spec is not None and spec.device is not None)
        if tracker is None and uses_device_face_stage(settings):
            from livefilter.detect.device_tracker import create_device_tracker

            tracker = create_device_tracker(settings.tracker_config(), device)
    controls = LiveControls(
        look=look.name,
        strength=settings.strength if settings.strength is not None else look.default_strength,
        edits=settings.edits if settings.edits is not None else look.edits,
        finish=settings.finish if settings.finish is not None else look.finish,
        scene=settings.scene_controls(),
    )
    return Pipeline(
        tracker if tracker is not None else make_tracker(settings),
        get_look,
        # The budget runs a host translator on a worker thread with a deadline; the device path keeps
        # the translator on its stream (a wrapper would send it back to the host path), so none there.
        lambda lk: _budgeted(make_translator(lk, settings.backend, settings.max_faces),
                             None if device is not None else settings.translate_budget_ms),
        controls,
        max_faces=settings.max_faces,
        stats=stats,
        temporal=settings.temporal,
        placement=settings.placement,
        styling=styling,
        scene=settings.scene,
        segment=settings.segment_config(),
    )
