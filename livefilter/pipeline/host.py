"""Wires the stages: Source -> TracksFaces -> Aligner -> Translator -> Blender -> Scene -> Sink.

:class:`Pipeline` runs the loop and owns the live controls; the pixels are its :class:`~livefilter.protocols.Styling`
part, :class:`HostStyling` here or the device one (:mod:`livefilter.pipeline.device`).

Failure policy: if any stage fails on a frame, that frame goes out unfiltered and the error is
counted and logged once per kind; the output never freezes or goes black.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from livefilter.align.host import Aligner
from livefilter.composite.blend import Blender
from livefilter.settings.choices import MAX_FACES
from livefilter.composite.masks import FACE_FEATHER, MAKEUP_FEATHER, LandmarkMasker, head_masker
from livefilter.composite.placement import CropPlacement
from livefilter.looks.code import spec_for_look
from livefilter.errors import SettingError
from livefilter.finish.host import SkinFinish
from livefilter.finish.settings import FinishSettings
from livefilter.looks.pack import ColorEdits, Look
from livefilter.protocols import DeviceFaceStage, Sink, Source, Styling, TracksFaces, Translator
from livefilter.scene.segment import SegmentConfig
from livefilter.scene.stage import SceneControls, SceneStage, look_scene
from livefilter.infra.stats import StageStats
from livefilter.types import CapturedFrame, Face, Tracked

log = logging.getLogger(__name__)

MAX_FACES_LIMIT = MAX_FACES
FETCH_JOIN_S = 2.0  # at the end of a run, how long the frame being fetched ahead may take to finish


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
    finish: FinishSettings = field(default_factory=FinishSettings)  # the skin finish (livefilter.finish)
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
        # oval from fading a cheek near its edge (a turned face's far cheek); foundation, which covers the
        # whole oval, keeps the wide one (no seam at the face's edge); an illustration restyles the head
        if self.placement is not None and self.placement.head:
            self.masker = head_masker(look.input_size)
        else:
            self.masker = LandmarkMasker(look.input_size, FACE_FEATHER if whole else MAKEUP_FEATHER)
        self.crops = np.empty((max_faces, look.input_size, look.input_size, 3), np.uint8)
        self.style = np.asarray(look.style_code, np.float32) if look.style_code is not None else None
        self.strength_in_network = bool(translator.strength_in_network)
        self.scene = look_scene(look)  # the look's own background and grade, or None


TranslatorFactory = Callable[[Look], Translator]


class HostStyling:
    """Align -> translate -> blend on the CPU, NumPy frames in and out (the host pipeline's pixels)."""

    output_format = "RGB"
    reuses_output_buffers = False
    device = None

    def __init__(self) -> None:
        self._history: dict[int, np.ndarray] = {}  # track id -> previous stylised crop (float32)
        self.pipeline: Pipeline | None = None
        self.finish = SkinFinish()

    def attach(self, pipeline: "Pipeline") -> None:
        self.pipeline = pipeline

    def check_tracker(self, tracker) -> None:
        """Refuse, at build time, a device face stage: it reads the device pipeline's upload."""
        if isinstance(tracker, DeviceFaceStage):
            raise SettingError(f"face stage {type(tracker).__name__} reads the device pipeline's upload: "
                               "the host pipeline cannot run it (use a host tracker, or a device backend)")

    def check_translator(self, translator: Translator, look: Look) -> None:
        """The host styling runs every :class:`~livefilter.protocols.Translator` (checked by the pipeline)."""

    def look_loaded(self, runtime: LookRuntime) -> None:
        """Nothing to prepare on the host."""

    def warm_up(self) -> None:
        """Nothing to capture on the host."""

    def track(self, image: np.ndarray) -> Tracked:
        """The face stage, and the scene's person mask of the same frame when it is wanted: on the
        worker thread that runs this ahead, it overlaps the styling of the previous frame."""
        pipe = self.pipeline
        return pipe.scene_ahead(image, Tracked(pipe.timed_faces(pipe.tracker.update, image)))

    def unstyled(self, image: np.ndarray, tracked: Tracked | None) -> np.ndarray:
        return image

    def plain(self, image: np.ndarray, tracked: Tracked, faces: list[Face], rt: LookRuntime,
              controls: LiveControls) -> np.ndarray:
        return self.pipeline.with_scene(image, tracked, faces, rt, controls)

    def style(self, image: np.ndarray, tracked: Tracked, faces: list[Face], rt: LookRuntime,
              controls: LiveControls, strength: np.ndarray) -> np.ndarray:
        """Align -> translate -> blend on the CPU, in place."""
        stats = self.pipeline.stats
        with stats.time("align"):
            mats = rt.aligner.transforms(faces)
            crops = rt.aligner.warp(image, mats, out=rt.crops[: len(faces)])
        with stats.time("translate"):
            styled = rt.translator(crops, rt.style, strength)
            if self.pipeline.temporal > 0:
                self._smooth(faces, styled)
        with stats.time("blend"):
            rt.blender.editor.apply(styled, controls.edits)
            alphas = np.ones(len(faces), np.float32) if rt.strength_in_network else strength
            # Dense landmarks give a face-oval mask (no hair/background, occluders cut out);
            # without them the template ellipse.
            masks = [rt.masker.face(f.landmarks, m, i, crops[i]) if f.landmarks is not None else None
                     for i, (f, m) in enumerate(zip(faces, mats))]
            rt.blender.blend(image, crops, styled, mats, alphas, masks, [f.landmarks for f in faces])
        if controls.finish.active:
            with stats.time("finish"):  # on the composited frame, at full resolution
                self.finish.apply(image, [f.landmarks for f in faces if f.landmarks is not None], controls.finish)
        return self.pipeline.with_scene(image, tracked, faces, rt, controls)

    def _smooth(self, faces: list[Face], styled: np.ndarray) -> None:
        """Temporal blending of each face's stylised crop in face-aligned space (in place).

        The crop is already stabilised by alignment, so an exponential average over frames removes
        generator flicker without ghosting; a new or re-identified face starts fresh.
        """
        a = self.pipeline.temporal
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


class Pipeline:
    """The run loop, the live controls and the pass-through policy, around a :class:`Styling` part.

    The part does the pixels: :class:`HostStyling` (NumPy frames, the default) or
    :class:`livefilter.pipeline.device.DeviceStyling` (a torch device). Both are given the same
    tracker, looks and translators.
    """

    def __init__(
        self,
        tracker: TracksFaces,
        looks: Callable[[str], Look],
        translator_factory: TranslatorFactory,
        controls: LiveControls,
        *,
        styling: Styling | None = None,
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
        controls.finish.validate()
        if not 0.0 <= temporal <= 0.95:
            raise SettingError(f"temporal smoothing must be between 0 and 0.95, got {temporal}")
        self.styling: Styling = styling if styling is not None else HostStyling()
        if not isinstance(self.styling, Styling):
            raise SettingError(f"styling {type(self.styling).__name__} does not implement the Styling protocol")
        self.temporal = temporal
        self.placement = placement
        self.scene_enabled = scene  # off: no background or grade at all (the bench's comparison)
        self.segment = segment
        self._scene: SceneStage | None = None
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
        self.styling.attach(self)
        self.styling.check_tracker(tracker)
        self.runtime(controls.look)  # load the first look now: errors surface before going live

    # -- what the styling part decides ----------------------------------------------------------
    @property
    def output_format(self) -> str:
        """What :meth:`process` returns: RGB (H, W, 3); the device styling may return planar I420 / NV12."""
        return self.styling.output_format

    @property
    def reuses_output_buffers(self) -> bool:
        """Whether :meth:`process` returns views of buffers it overwrites later (keepers copy them)."""
        return self.styling.reuses_output_buffers

    @property
    def device(self):
        """The torch device the pixel stages run on; None: the host."""
        return self.styling.device

    def warm_up(self) -> None:
        """Everything the hot path needs, allocated and captured before the first frame."""
        self.styling.warm_up()

    # -- live control -------------------------------------------------------------------------
    @property
    def controls(self) -> LiveControls:
        return self._controls

    def update(self, **changes) -> LiveControls:
        """Change controls; takes effect on the next processed frame. Validates before applying."""
        new = replace(self._controls, **changes)
        check_strength(new.strength)
        new.edits.validate()
        new.finish.validate()
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
            self.styling.look_loaded(rt)
        return rt

    def runtimes(self) -> list[LookRuntime]:
        """The looks loaded so far."""
        return list(self._runtimes.values())

    def _check_translator(self, translator: Translator, look: Look) -> None:
        """Refuse, at build time, a translator that is not a :class:`~livefilter.protocols.Translator`,
        or one the styling part cannot run."""
        if not isinstance(translator, Translator):
            raise SettingError(f"translator {type(translator).__name__} for look '{look.name}' does not implement the "
                               "Translator protocol (name, input_size, strength_in_network, __call__)")
        self.styling.check_translator(translator, look)

    # -- per frame -----------------------------------------------------------------------------
    def log_once(self, kind: str, err: BaseException) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning("frame passed through unfiltered: %s: %s (logged once per kind)", kind, err)

    def track(self, image) -> Tracked:
        """The face stage alone (run ahead on a worker thread by :meth:`run`), with what the styling
        part prepares for the frame meanwhile; errors are returned."""
        return self.styling.track(image)

    def scene_ahead(self, image: np.ndarray, tracked: Tracked) -> Tracked:
        """``tracked`` with the host scene's person mask (and background layer) of ``image`` when the
        frame wants the scene stage; a failure is logged, and the scene step makes them again."""
        rt = self._runtimes.get(self._controls.look)
        if rt is None or not self.scene_wanted(rt, self._controls):
            return tracked
        try:
            with self.stats.time("segment"):
                faces = tracked.faces if isinstance(tracked.faces, list) else []
                ahead = self.scene_stage().segment(image, faces, self._controls.scene, rt.scene)
            return tracked._replace(scene_mask=ahead)
        except Exception as e:  # the scene step makes it again and applies the failure policy
            self.log_once(f"segment:{type(e).__name__}", e)
            return tracked

    def scene_wanted(self, rt: LookRuntime, controls: LiveControls) -> bool:
        """Whether this frame gets the scene stage (a background other than keep, or a grade)."""
        return self.scene_enabled and SceneStage.wanted(controls.scene, rt.scene)

    def scene_stage(self) -> SceneStage:
        """The host scene stage (segmentation, background, grade), made when first needed."""
        if self._scene is None:
            self._scene = SceneStage(self.segment)
        return self._scene

    def with_scene(self, image: np.ndarray, tracked: Tracked | None, faces: list[Face], rt: LookRuntime,
                   controls: LiveControls) -> np.ndarray:
        """``image`` with the host scene stage when the frame wants it (in place), else as it is."""
        if not self.scene_wanted(rt, controls):
            return image
        self.stats.mark("scene")
        ahead = tracked.scene_mask if tracked is not None else None
        with self.stats.time("scene"):
            return self.scene_stage().apply(image, faces, controls.scene, rt.scene, ahead=ahead)

    def timed_faces(self, find: Callable[[object], list[Face]], frame) -> list[Face] | BaseException:
        """``find(frame)`` timed as the "detect" stage; an error is returned, not raised."""
        try:
            with self.stats.time("detect"):
                return find(frame)
        except Exception as e:  # handed to process(), which applies the failure policy
            return e

    def process(self, image, tracked: Tracked | None = None):
        """Apply the current look to every face of ``image`` and return the output frame.

        ``tracked`` may come from :meth:`track` run ahead on another thread; otherwise the face stage
        runs here.
        """
        controls = self._controls
        if controls.paused:
            return self.styling.unstyled(image, tracked)
        self.stats.mark("detect")
        try:
            if tracked is None:
                tracked = self.track(image)
            faces = tracked.faces
            if isinstance(faces, BaseException):
                raise faces
            faces = [f for f in faces if f.enabled and f.track_id not in controls.disabled_tracks]
            faces = faces[: self.max_faces]
            self.last_faces = faces
            rt = self.runtime(controls.look)
            # strength 0 (a grade-only look) and no skin finish: the faces stay as they are
            if faces and (controls.strength > 0 or controls.finish.active):
                strength = np.full(len(faces), controls.strength, np.float32)
                return self.styling.style(image, tracked, faces, rt, controls, strength)
            return self.styling.plain(image, tracked, faces, rt, controls)
        except Exception as e:  # failure policy: never drop or freeze the output
            self.stats.passthrough += 1
            kind = f"{self.stats.current}:{type(e).__name__}"
            self.stats.count_error(kind)
            self.log_once(kind, e)
            return self.styling.unstyled(image, tracked)

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
        self.warm_up()  # before the worker thread exists: no capture ever overlaps the hot path
        stats = self.stats
        stats.started = time.perf_counter()
        deadline = stats.started + duration if duration else None
        n = 0
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livefilter-track") if overlap else None

        def fetch() -> tuple[CapturedFrame | None, Tracked | None]:
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

        ahead: Future | None = None
        try:
            ahead = worker.submit(fetch) if worker is not None and allowed(0) else None
            while allowed(n) or ahead is not None:
                if ahead is not None:
                    frame, tracked = ahead.result()
                    ahead = None
                elif allowed(n):
                    frame, tracked = fetch()
                else:
                    break
                if frame is None:
                    break
                n += 1
                # The worker captures and tracks frame N+1 while this thread styles frame N.
                if worker is not None and allowed(n):
                    ahead = worker.submit(fetch)
                self._emit(frame, self.process(frame.image, tracked), sink, on_frame, progress, n)
                if sink.closed:
                    break
        finally:
            if worker is not None:
                if ahead is not None and not ahead.cancel():
                    # the worker is reading the source (or tracking) for a frame that will not be styled:
                    # let it finish before the caller closes the source under it (a bounded wait: a live
                    # read that blocks does not hold the exit)
                    futures_wait([ahead], timeout=FETCH_JOIN_S)
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
