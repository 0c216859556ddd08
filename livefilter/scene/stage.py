"""The scene stage on the host: person mask -> background (keep / blur / replace) and the look's
colour grade, composited over the styled frame.

It runs after the faces are styled, on the styled frame, so the styled face lands inside the person
layer as it is (the mask is made from the same frame: face styling and background meet without a
seam). Settings change live (:class:`SceneControls`, one immutable value per frame); the grade's
table is rebuilt only when its strength or the wearer's skin colour changes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livefilter.scene.background import BackgroundConfig, BackgroundStage, Compositor
from livefilter.scene.grade import ChannelLut, Grade, grade_table
from livefilter.scene.segment import PersonSegmenter, SegmentConfig
from livefilter.types import Face

log = logging.getLogger(__name__)

SKIN_SAMPLE_STEP = 4  # every 4th pixel of the face's centre box is enough for its mean colour
SKIN_SMOOTHING = 0.9  # exponential smoothing of the measured skin colour over frames
SKIN_REBUILD_LEVELS = 2.0  # rebuild the grade table when the skin colour moved this many levels


@dataclass(frozen=True)
class SceneControls:
    """The live scene settings. ``background``: keep, blur or replace (None: the look's own, else
    keep). ``blur``: bokeh strength 0..1. ``source``: replacement image or video. ``grade``: apply the
    look's grade; ``grade_strength``: None = the look's own strength."""

    background: str | None = None
    blur: float = 0.6
    source: Path | None = None
    grade: bool = True
    grade_strength: float | None = None

    def validate(self) -> None:
        BackgroundConfig(self.background or "keep", self.blur,
                         self.source if self.background == "replace" else None).validate()
        if self.grade_strength is not None and not 0.0 <= float(self.grade_strength) <= 1.0:
            raise ValueError("grade strength must be within 0..1")


@dataclass(frozen=True)
class SceneAhead:
    """What the face stage's worker made of a frame ahead of its styling: the person mask, and the
    background layer when it does not depend on the styled pixels (blur of the unstyled frame: the
    styled face is person, weight 0 in the normalised blur; a replacement), with the settings it
    was made for."""

    mask: np.ndarray
    layer: np.ndarray | None
    key: tuple


@dataclass(frozen=True)
class LookScene:
    """What a look carries for the scene: its own background wish and colour grade (both optional)."""

    background: BackgroundConfig | None = None
    grade: Grade | None = None


def look_scene(look) -> LookScene | None:
    """A look's scene fields (``look.json`` ``scene``, validated by ``looks/pack.py``) as a :class:`LookScene`."""
    from livefilter.looks.pack import scene_media

    data = look.scene
    if not data:
        return None
    bg = data.get("background")
    background = BackgroundConfig(bg["mode"], bg["blur"], scene_media(look)) if bg else None
    grade = Grade.from_json(data["grade"]) if data.get("grade") else None
    return LookScene(background, grade)


def skin_sample(faces: list[Face]) -> tuple[slice, slice]:
    """(rows, columns) of the centre of the largest face's box (cheeks and nose: mostly skin), sampled
    every ``SKIN_SAMPLE_STEP`` pixels; host and device read the same pixels."""
    face = max(faces, key=lambda f: f.area)
    x1, y1, x2, y2 = (float(v) for v in face.box)
    w, h = x2 - x1, y2 - y1
    return (slice(max(0, int(y1 + 0.45 * h)), max(0, int(y1 + 0.75 * h)), SKIN_SAMPLE_STEP),
            slice(max(0, int(x1 + 0.25 * w)), max(0, int(x1 + 0.75 * w)), SKIN_SAMPLE_STEP))


def face_skin_rgb(image: np.ndarray, faces: list[Face]) -> np.ndarray | None:
    """Mean RGB of the centre of the largest face's box (cheeks and nose: mostly skin), or None."""
    if not faces:
        return None
    patch = image[skin_sample(faces)]
    if patch.size == 0:
        return None
    return patch.reshape(-1, 3).mean(axis=0)


class SceneStage:
    """Applies background and grade to RGB frames in place (host). ``active(controls, look)`` says
    whether a frame needs it at all (nothing to do: no cost)."""

    def __init__(self, segment: SegmentConfig | None = None) -> None:
        self.segmenter = PersonSegmenter(segment)
        self._segment_lock = threading.Lock()  # the face stage's worker segments ahead (Pipeline.track)
        self._compose = Compositor()  # the compositing thread's own: it never takes the lock when the mask came ahead
        self._keep_layer: np.ndarray | None = None
        self._lut = ChannelLut()  # the compositing thread's own
        self._background: BackgroundStage | None = None
        self._bg_key: tuple | None = None
        self._tables = {slot: _GradeTable() for slot in ("ahead", "main")}  # one per thread
        self._graded: np.ndarray | None = None
        self.last_mask: np.ndarray | None = None

    def close(self) -> None:
        if self._background is not None:
            self._background.close()

    @staticmethod
    def resolve(controls: SceneControls, look: LookScene | None) -> tuple[BackgroundConfig, Grade | None, float]:
        """The background, grade and grade strength in force: the live controls over the look's own."""
        look = look or LookScene()
        if controls.background is not None:
            bg = BackgroundConfig(controls.background, controls.blur, controls.source)
        else:
            bg = look.background or BackgroundConfig()
        grade = look.grade if controls.grade else None
        strength = (grade.strength if controls.grade_strength is None else controls.grade_strength) if grade else 0.0
        if grade is not None and strength <= 0.0:
            grade = None
        return bg, grade, strength

    @classmethod
    def wanted(cls, controls: SceneControls, look: LookScene | None) -> bool:
        """Whether a frame needs the stage at all (a background other than keep, or a grade)."""
        bg, grade, _ = cls.resolve(controls, look)
        return bg.mode != "keep" or grade is not None

    def _stage_for(self, bg: BackgroundConfig) -> BackgroundStage:
        """The background stage for ``bg`` (a new one when the settings changed); the caller holds
        ``_segment_lock``, under which stages are also used, so none is closed while in use."""
        key = (bg.mode, bg.blur, str(bg.source) if bg.mode == "replace" else None)
        if key != self._bg_key:
            if self._background is not None:
                self._background.close()
            self._background = BackgroundStage(bg)
            self._bg_key = key
        return self._background

    def _key(self, bg: BackgroundConfig, grade: Grade | None, strength: float) -> tuple:
        return (bg.mode, bg.blur, str(bg.source), id(grade), strength, grade.region if grade else None)

    def segment(self, image: np.ndarray, faces: list[Face], controls: SceneControls,
                look: LookScene | None) -> SceneAhead | None:
        """The person mask of ``image`` and its background layer, when this frame's settings need them,
        else None. Made ahead on the face stage's worker thread (``Pipeline.track``), beside the styling
        of the previous frame; the segmenter's and the layer's buffers alternate, so what the frame
        being composited uses is never overwritten by the next frame's."""
        bg, grade, strength = self.resolve(controls, look)
        if bg.mode == "keep" and (grade is None or grade.region == "frame"):
            return None
        layer = None
        lut = self._tables["ahead"].get(grade, strength, image, faces) if bg.mode != "keep" and grade is not None else None
        with self._segment_lock:  # the layer reads the segmenter's low-resolution buffers: under the same lock
            mask = self.segmenter(image)
            if bg.mode != "keep":
                layer = self._stage_for(bg).layer(image, mask, lut if grade is not None and grade.region != "person" else None,
                                                  low=self.segmenter.low)
        return SceneAhead(mask, layer, self._key(bg, grade, strength))

    def apply(self, image: np.ndarray, faces: list[Face], controls: SceneControls,
              look: LookScene | None = None, ahead: SceneAhead | None = None) -> np.ndarray:
        """Background and grade on ``image`` (RGB uint8, modified in place); returns it. ``ahead``: the
        mask (and layer) made ahead for this frame (:meth:`segment`); else they are made here."""
        bg, grade, strength = self.resolve(controls, look)
        if bg.mode == "keep" and grade is None:
            return image
        lut = self._tables["main"].get(grade, strength, image, faces) if grade is not None else None
        if bg.mode == "keep" and grade.region == "frame":
            return self._lut(image, lut, image)
        if ahead is not None and ahead.key != self._key(bg, grade, strength):
            ahead = None  # the settings changed since: made again here
        bg_lut = lut if grade is not None and grade.region != "person" else None
        if ahead is None:
            with self._segment_lock:
                mask = self.segmenter(image)
                layer = self._stage_for(bg).layer(image, mask, bg_lut, low=self.segmenter.low)
        else:  # made ahead on the worker: no lock taken here
            mask = ahead.mask
            layer = ahead.layer if ahead.layer is not None else self._kept(image, bg_lut)
        self.last_mask = mask
        person = image
        if grade is not None and grade.region in ("frame", "person"):
            if self._graded is None or self._graded.shape != image.shape:
                self._graded = np.zeros_like(image)
            person = self._lut(image, lut, self._graded)
        return self._compose(person, layer, mask, image)

    def _kept(self, image: np.ndarray, lut: np.ndarray | None) -> np.ndarray:
        """The background layer of the keep mode: the frame itself, or graded."""
        if lut is None:
            return image
        if self._keep_layer is None or self._keep_layer.shape != image.shape:
            self._keep_layer = np.zeros_like(image)
        return self._lut(image, lut, self._keep_layer)


class _GradeTable:
    """A grade's lookup table, rebuilt only when the grade, its strength or the (smoothed) skin colour
    of the wearer changes; one per thread that grades."""

    def __init__(self) -> None:
        self.table = np.zeros((1, 256, 3), np.uint8)
        self._key: tuple | None = None
        self._skin: np.ndarray | None = None
        self._table_skin: np.ndarray | None = None

    def get(self, grade: Grade, strength: float, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        skin = face_skin_rgb(image, faces) if grade.keep_skin else None
        if skin is not None:
            self._skin = skin if self._skin is None else SKIN_SMOOTHING * self._skin + (1 - SKIN_SMOOTHING) * skin
        key_skin = self._skin if grade.keep_skin else None
        key = (id(grade), strength)
        if key != self._key or (key_skin is not None and (
                self._table_skin is None or float(np.abs(key_skin - self._table_skin).max()) > SKIN_REBUILD_LEVELS)):
            grade_table(grade, strength, key_skin, out=self.table)
            self._key = key
            self._table_skin = None if key_skin is None else key_skin.copy()
        return self.table
