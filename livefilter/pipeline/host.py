"""Wires the stages: Source -> TracksFaces -> Aligner -> Translator -> Blender -> Sink.

Failure policy: if any stage fails on a frame, that frame goes out unfiltered and the error is
counted and logged once per kind; the output never freezes or goes black.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from livefilter.align.host import Aligner
from livefilter.composite.blend import Blender
from livefilter.settings.choices import MAX_FACES
from livefilter.composite.masks import FACE_FEATHER, MAKEUP_FEATHER, LandmarkMasker
from livefilter.composite.placement import CropPlacement, spec_for_look
from livefilter.errors import SettingError
from livefilter.looks.pack import ColorEdits, Look
from livefilter.protocols import DeviceFaceStage, Sink, Source, TracksFaces, Translator
from livefilter.scene.segment import SegmentConfig
from livefilter.scene.stage import SceneControls, SceneStage, look_scene
from livefilter.infra.stats import StageStats
from livefilter.types import CapturedFrame, Face

log = logging.getLogger(__name__)

MAX_FACES_LIMIT = MAX_FACES


def check_strength(value: float) -> float:
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise SettingError(f"strength must be between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LiveControls:
    """Everything a streamer can change while live; replaced atomically, read once per frame."""

    look: str
    strength: float = 1.0
    edits: ColorEdits = field(default_factory=ColorEdits)
    paused: bool = False
    disabled_tracks: frozenset[int] = frozenset()
    scene: SceneControls = field(default_factory=SceneControls)  # background and grade (livefilter.scene)


class LookRuntime:
    """What one look needs at run time: translator, aligner, blender, crop buffers."""

    def __init__(self, look: Look, translator: Translator, max_faces: int, placement: bool = True) -> None:
        """``placement``: place the residual as makeup (:mod:`livefilter.composite.placement`); off, the whole residual
        lands under the face mask (the comparison ``livefilter bench`` makes)."""
        self.look = look
        self.translator = translator
        self.aligner = Aligner(look.input_size, look.align_padding)
        self.placement = spec_for_look(look) if placement else None
        whole = self.placement is None or self.placement.whole_face
        crop_step = (CropPlacement(look.input_size, self.placement, FACE_FEATHER / MAKEUP_FEATHER if whole else 1.0)
                     if self.placement is not None else None)
        self.blender = Blender(self.aligner.template, look.input_size, placement=crop_step)
        # a makeup look's regions are inside the face and soft themselves: a narrow feather keeps the
        # oval from fading a cheek near its edge (a turned face's far cheek); foundation and paint,
        # which cover the whole oval, keep the wide one (no seam at the face's edge)
        self.masker = LandmarkMasker(look.input_size, FACE_FEATHER if whole else MAKEUP_FEATHER)
        self.crops = np.empty((max_faces, look.input_size, look.input_size, 3), np.uint8)
        self.style = np.asarray(look.style_code, np.float32) if look.style_code is not None else None
        self.strength_in_network = bool(translator.strength_in_network)
        self.scene = look_scene(look)  # the look's own background and grade, or None


TranslatorFactory = Callable[[Look], Translator]


class Pipeline:
    """The host pipeline (NumPy frames); :class:`livefilter.pipeline.device.DevicePipeline` is its device twin."""

    # what process() returns: RGB (H, W, 3) here; the device pipeline may return planar I420 / NV12
    output_format: str = "RGB"
    # whether process() returns views of buffers it overwrites later (then whoever keeps one copies it)
    reuses_output_buffers: bool = False
    # the torch device the pixel stages run on; None: the host (NumPy) pipeline
    device = None

    def __init__(
        self,
        tracker: TracksFaces,
        looks: Callable[[str], Look],
        translator_factory: TranslatorFactory,
        controls: LiveControls,
        *,
        max_faces: int = 4,
        stats: StageStats | None = None,
        temporal: float = 0.0,
        placement: bool = True,
        scene: bool = True,
        segment: SegmentConfig | None = None,
    ) -> None:
        if not 1 <= max_faces <= MAX_FACES_LIMIT:
            raise SettingError(f"max faces must be between 1 and {MAX_FACES_LIMIT}, got {max_faces}")
        check_strength(controls.strength)
        if not 0.0 <= temporal <= 0.95:
            raise SettingError(f"temporal smoothing must be between 0 and 0.95, got {temporal}")
        self.temporal = temporal
        self.placement = placement
        self.scene_enabled = scene  # off: no background or grade at all (the bench's comparison)
        self._segment = segment
        self._scene: SceneStage | None = None
        self._masks: dict[int, tuple] = {}  # id(frame) -> (frame, its person mask made ahead by track())
        self._check_tracker(tracker)
        self._history: dict[int, np.ndarray] = {}  # track id -> previous stylised crop (float32)
        self.tracker = tracker
        self._looks = looks
        self._factory = translator_factory
        self.max_faces = max_faces
        self.stats = stats or StageStats()
        self._runtimes: dict[str, LookRuntime] = {}
        self._translators: dict[str, Translator] = {}
        self._lock = threading.Lock()
        self._logged: set[str] = set()
        self.last_faces: list[Face] = []
        self._controls = controls
        self.runtime(controls.look)  # load the first look now: errors surface before going live

    # -- live control -------------------------------------------------------------------------
    @property
    def controls(self) -> LiveControls:
        return self._controls

    def update(self, **changes) -> LiveControls:
        """Change controls; takes effect on the next processed frame. Validates before applying."""
        new = replace(self._controls, **changes)
        check_strength(new.strength)
        new.edits.validate()
        try:
            new.scene.validate()
        except ValueError as e:
            raise SettingError(str(e)) from None
        if new.look != self._controls.look:
            self.runtime(new.look)  # load (and validate) before switching, so a bad look never goes live
        with self._lock:
            self._controls = new
        return new

    def runtime(self, name: str) -> LookRuntime:
        rt = self._runtimes.get(name)
        if rt is None:
            look = self._looks(name)
            # Looks sharing one student graph share one translator (one engine serves every look).
            key = look.onnx_sha256 or str(look.model_path)
            translator = self._translators.get(key)
            if translator is None:
                translator = self._factory(look)
                self._check_translator(translator, look)
                self._translators[key] = translator
            rt = LookRuntime(look, translator, self.max_faces, self.placement)
            self._runtimes[name] = rt
        return rt

    def _check_translator(self, translator: Translator, look: Look) -> None:
        """Refuse, at build time, a translator this pipeline cannot run (the host pipeline runs every
        :class:`~livefilter.protocols.Translator`)."""
        if not isinstance(translator, Translator):
            raise SettingError(f"translator {type(translator).__name__} for look '{look.name}' does not implement the "
                               "Translator protocol (name, input_size, strength_in_network, __call__)")

    def _check_tracker(self, tracker) -> None:
        """Refuse, at build time, a face stage this pipeline cannot feed (here: a device one)."""
        if isinstance(tracker, DeviceFaceStage):
            raise SettingError(f"face stage {type(tracker).__name__} reads the device pipeline's upload: "
                               "the host pipeline cannot run it (use a host tracker, or a device backend)")

    # -- per frame -----------------------------------------------------------------------------
    def _log_once(self, kind: str, err: BaseException) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("frame passed through unfiltered: %s: %s (logged once per kind)", kind, err)

    def track(self, image: np.ndarray) -> list[Face] | BaseException:
        """The face stage alone (run ahead on a worker thread by :meth:`run`); errors are returned.

        When the scene stage is wanted the person mask of the same frame is made here too, so on the
        worker thread it overlaps the styling of the previous frame."""
        faces = self._timed_faces(self.tracker.update, image)
        if self.device is None and self.scene_enabled:
            controls = self._controls
            look = self._runtimes.get(controls.look)
            if SceneStage.wanted(controls.scene, look.scene if look is not None else None):
                try:
                    with self.stats.time("segment"):
                        self._masks[id(image)] = (image, self.scene_stage().segment(image, controls.scene, look.scene))
                except Exception as e:  # the scene step makes it again and applies the failure policy
                    self._log_once(f"segment:{type(e).__name__}", e)
        return faces

    def _timed_faces(self, find: Callable[[object], list[Face]], frame) -> list[Face] | BaseException:
        """``find(frame)`` timed as the "detect" stage; an error is returned, not raised."""
        try:
            with self.stats.time("detect"):
                return find(frame)
        except Exception as e:  # handed to process(), which applies the failure policy
            return e

    def process(self, image: np.ndarray, faces: list[Face] | BaseException | None = None) -> np.ndarray:
        """Apply the current look to every face of ``image`` (in place) and return it.

        ``faces`` may come from :meth:`track` run ahead on another thread; otherwise the face stage
        runs here.
        """
        controls = self._controls
        if controls.paused:
            return image
        stage = ["detect"]  # the stage running now, for the failure log
        try:
            if faces is None:
                faces = self.track(image)
            if isinstance(faces, BaseException):
                raise faces
            faces = [f for f in faces if f.enabled and f.track_id not in controls.disabled_tracks]
            faces = faces[: self.max_faces]
            self.last_faces = faces
            rt = self.runtime(controls.look)
            if faces and controls.strength > 0:  # strength 0 (a grade-only look): the faces stay as they are
                strength = np.full(len(faces), controls.strength, np.float32)
                image = self._style(image, faces, rt, controls, strength, stage)
            return self._scene_step(image, faces, rt, controls, stage)
        except Exception as e:  # failure policy: never drop or freeze the output
            self.stats.passthrough += 1
            kind = f"{stage[0]}:{type(e).__name__}"
            self.stats.count_error(kind)
            self._log_once(kind, e)
            return image

    def scene_stage(self) -> SceneStage:
        """The scene stage (segmentation, background, grade), made when first needed."""
        if self._scene is None:
            self._scene = SceneStage(self._segment)
        return self._scene

    def _scene_step(self, image, faces: list[Face], rt: LookRuntime, controls: LiveControls, stage: list[str]):
        """Background and grade over the styled frame (``livefilter.scene``); nothing asked: no cost."""
        if not self.scene_enabled or not SceneStage.wanted(controls.scene, rt.scene):
            return image
        stage[0] = "scene"
        ahead = self._masks.pop(id(image), None)
        mask = ahead[1] if ahead is not None and ahead[0] is image else None
        if len(self._masks) > 4:  # masks of frames that never reached here (a failure before styling)
            self._masks.clear()
        with self.stats.time("scene"):
            return self.scene_stage().apply(image, faces, controls.scene, rt.scene, mask=mask)

    def _style(self, image: np.ndarray, faces: list[Face], rt: LookRuntime, controls: LiveControls,
               strength: np.ndarray, stage: list[str]) -> np.ndarray:
        """Align -> translate -> blend on the CPU (the device pipeline overrides this)."""
        stats = self.stats
        stage[0] = "align"
        with stats.time("align"):
            mats = rt.aligner.transforms(faces)
            crops = rt.aligner.warp(image, mats, out=rt.crops[: len(faces)])
        stage[0] = "translate"
        with stats.time("translate"):
            styled = rt.translator(crops, rt.style, strength)
            if self.temporal > 0:
                self._smooth(faces, styled)
        stage[0] = "blend"
        with stats.time("blend"):
            rt.blender.editor.apply(styled, controls.edits)
            alphas = np.ones(len(faces), np.float32) if rt.strength_in_network else strength
            # Dense landmarks give a face-oval mask (no hair/background, occluders cut out);
            # without them the template ellipse.
            masks = [rt.masker.face(f.landmarks, m, i, crops[i]) if f.landmarks is not None else None
                     for i, (f, m) in enumerate(zip(faces, mats))]
            rt.blender.blend(image, crops, styled, mats, alphas, masks, [f.landmarks for f in faces])
        return image

    def _smooth(self, faces: list[Face], styled: np.ndarray) -> None:
        """Temporal blending of each face's stylised crop in face-aligned space (in place).

        The crop is already stabilised by alignment, so an exponential average over frames removes
        generator flicker without ghosting; a new or re-identified face starts fresh.
        """
        a = self.temporal
        live = set()
        for i, f in enumerate(faces):
            if f.track_id < 0:
                continue
            live.add(f.track_id)
            prev = self._history.get(f.track_id)
            if prev is None or prev.shape != styled[i].shape:
                self._history[f.track_id] = styled[i].astype(np.float32)
                continue
            cv2.addWeighted(prev, a, styled[i].astype(np.float32), 1.0 - a, 0.0, dst=prev)
            np.copyto(styled[i], prev, casting="unsafe")
        for tid in [t for t in self._history if t not in live]:
            del self._history[tid]

    def run(
        self,
        source: Source,
        sink: Sink,
        *,
        max_frames: int | None = None,
        duration: float | None = None,
        stop: threading.Event | None = None,
        on_frame: Callable[[CapturedFrame, np.ndarray], None] | None = None,
        progress: Callable[[int], None] | None = None,
        overlap: bool = True,
    ) -> int:
        """Process frames until the source ends, ``max_frames``/``duration`` is reached or ``stop`` is set.

        With ``overlap`` the face stage of frame N+1 runs on a worker thread while frame N is
        aligned, translated and blended (both release the GIL inside onnxruntime / OpenCV), so a
        two-core machine keeps both cores busy.
        """
        if not isinstance(sink, Sink):  # before any frame is read: nothing is lost
            raise SettingError(f"sink {type(sink).__name__} does not implement the Sink protocol (write, close, closed)")
        stats = self.stats
        stats.started = time.perf_counter()
        deadline = stats.started + duration if duration else None
        n = 0
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livefilter-track") if overlap else None

        def fetch() -> tuple[CapturedFrame | None, list[Face] | BaseException | None]:
            """Capture the next frame and (when overlapping) run the face stage on it."""
            with stats.time("capture_wait"):
                f = source.read()
            if f is None or worker is None:
                return f, None
            return f, self.track(f.image)

        def allowed(done: int) -> bool:
            if stop is not None and stop.is_set():
                return False
            if max_frames is not None and done >= max_frames:
                return False
            return deadline is None or time.perf_counter() < deadline

        try:
            ahead: Future | None = worker.submit(fetch) if worker is not None and allowed(0) else None
            while allowed(n) or ahead is not None:
                if ahead is not None:
                    frame, faces = ahead.result()
                    ahead = None
                elif allowed(n):
                    frame, faces = fetch()
                else:
                    break
                if frame is None:
                    break
                n += 1
                # The worker captures and tracks frame N+1 while this thread styles frame N.
                if worker is not None and allowed(n):
                    ahead = worker.submit(fetch)
                self._emit(frame, self.process(frame.image, faces), sink, on_frame, progress, n)
                if sink.closed:
                    break
        finally:
            if worker is not None:
                worker.shutdown(wait=False, cancel_futures=True)
        return n

    def _emit(self, frame: CapturedFrame, out: np.ndarray, sink: Sink, on_frame, progress, n: int) -> None:
        stats = self.stats
        if on_frame is not None:
            on_frame(frame, out)
        with stats.time("sink"):
            sink.write(out, frame)
        stats.add("end_to_end", (time.perf_counter() - frame.captured_at) * 1000.0)
        stats.frames += 1
        if progress is not None:
            progress(n)
