"""The runtime's face stage: detect every N frames, track with FaceMesh in between, smooth, keep ids.

Per frame:

1. every live track is re-landmarked by FaceMesh on the ROI derived from its previous landmarks
   (all tracks in one batched model call); a track whose face-presence score falls below
   ``min_presence`` is lost, and two tracks that converged onto one face are merged;
2. the detector runs on a schedule (every ``detect_every`` frames), when a track was lost or merged
   (the number of faces may have changed), and on every frame while nothing is tracked. Detections
   that overlap a live track only confirm it (its FaceMesh ROI stays the tracked one, so there is
   no jump every N frames); the others are landmarked and become tracks, taking back the id of a
   recently lost track at the same place;
3. ``only`` / ``max_faces`` select the faces kept, preferring faces already tracked (hysteresis);
4. landmarks are One-Euro smoothed per track and the five alignment keypoints derived from the
   smoothed landmarks (the same FaceMesh-derived points ``create_detector`` gives single images).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Mapping

import cv2
import numpy as np

from livefilter.settings.choices import MAX_FACES, ONLY_MODES
from livefilter.infra.terminal_text import listed
from livefilter.detect.blazeface import coarse_five
from livefilter.detect.facemesh import (
    FaceMeshLandmarker,
    face_from_landmarks,
    roi_from_detection,
    rois_from_landmarks,
)
from livefilter.detect.geometry import pairwise_iou, points_box
from livefilter.detect.one_euro import OneEuroFilter
from livefilter.errors import SettingError
from livefilter.protocols import Detector, TiledDetector
from livefilter.types import Face

log = logging.getLogger(__name__)

ONLY_CHOICES = ONLY_MODES
MAX_DETECT_EVERY = 300  # frames between full detections, at most
KEEP_BIAS = 1.25  # a tracked face must be beaten by this factor (area / centre distance) to be replaced


@dataclass
class TrackerConfig:
    """Settings of :class:`FaceTracker` (validated by :meth:`validate`)."""

    detect_every: int = 10  # full detection period in frames
    max_faces: int = 4  # keep at most this many (largest first)
    only: str = "all"  # all | largest | center (the face nearest the frame centre)
    min_presence: float = 0.5  # FaceMesh presence below this = track lost -> detect this frame
    match_iou: float = 0.3  # detection <-> track association (and re-identification of lost tracks)
    duplicate_iou: float = 0.5  # two tracks overlapping more than this are one face
    keep_lost: int = 30  # frames a lost track's id is remembered for re-identification
    smoothing: bool = True  # One-Euro filter on the landmarks
    min_cutoff: float = 1.0  # Hz, when still
    beta: float = 10.0  # cutoff increase (Hz) per face size per second of speed
    d_cutoff: float = 1.0  # Hz, speed estimate
    fps: float | None = None  # timestamps from frame count / fps (files); None = wall clock

    def validate(self, names: Mapping[str, str] | None = None) -> TrackerConfig:
        """Raise SettingError for a value out of range. ``names``: how a field is called in the
        message where the user knows it by another name (``{"max_faces": "--max-faces"}``)."""
        name = (names or {}).get
        if not 1 <= self.detect_every <= MAX_DETECT_EVERY:
            raise SettingError(f"{name('detect_every', 'detect_every')} must be between 1 and {MAX_DETECT_EVERY}, "
                               f"got {self.detect_every}")
        if not 1 <= self.max_faces <= MAX_FACES:
            raise SettingError(f"{name('max_faces', 'max_faces')} must be between 1 and {MAX_FACES}, got {self.max_faces}")
        if self.only not in ONLY_CHOICES:
            raise SettingError(f"{name('only', 'only')} must be {listed(ONLY_MODES)}, got {self.only!r}")
        if not 0.0 < self.min_presence < 1.0:
            raise SettingError(f"min_presence must be in (0, 1), got {self.min_presence}")
        if not (0.0 < self.match_iou < 1.0 and 0.0 < self.duplicate_iou < 1.0):
            raise SettingError("match_iou and duplicate_iou must be in (0, 1)")
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise SettingError("One-Euro min_cutoff and d_cutoff must be > 0 and beta >= 0")
        if self.fps is not None and not self.fps > 0:
            raise SettingError(f"{name('fps', 'fps')} must be positive, got {self.fps}")
        return self


@dataclass(eq=False)
class _Track:
    track_id: int
    landmarks: np.ndarray  # (468, 2) raw (unsmoothed) landmarks of the last frame it was seen
    score: float
    filter: OneEuroFilter
    last_seen: int
    box: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.box = points_box(self.landmarks)

    def set(self, landmarks: np.ndarray, score: float, frame: int) -> None:
        self.landmarks, self.score, self.last_seen = landmarks, score, frame
        self.box = points_box(landmarks)

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


class FaceTracker:
    """The runtime's face stage (the TracksFaces protocol): ``update(frame) -> faces``, ``reset()``.

    ``detections`` counts detector runs, ``frames`` processed frames (for stats and tests).
    """

    def __init__(self, detector: Detector, landmarker: FaceMeshLandmarker, config: TrackerConfig | None = None) -> None:
        self.config = (config or TrackerConfig()).validate()
        self.detector = detector
        self.landmarker = landmarker
        self._tracks: list[_Track] = []
        self._lost: list[_Track] = []
        self._next_id = 0  # never reset: per-face settings are keyed by id
        self._frame = 0
        self._last_detect = -(10**9)
        self.detections = 0
        self.frames = 0

    def reset(self) -> None:
        """Forget all tracks (new source / scene cut); ids keep counting up."""
        self._tracks.clear()
        self._lost.clear()
        self._frame = 0
        self._last_detect = -(10**9)

    # ------------------------------------------------------------------ helpers
    def _now(self, timestamp: float | None) -> float:
        if timestamp is not None:
            return float(timestamp)
        return self._frame / self.config.fps if self.config.fps else time.perf_counter()

    def _new_filter(self) -> OneEuroFilter:
        c = self.config
        return OneEuroFilter(c.min_cutoff, c.beta, c.d_cutoff)

    def _lose(self, track: _Track) -> None:
        self._lost.append(track)

    def _track_existing(self, image: np.ndarray) -> bool:
        """Re-landmark every track on its own ROI; returns True when the face count may have changed."""
        if not self._tracks:
            return False
        lms, presence = self.landmarker.run(image, rois_from_landmarks(np.stack([t.landmarks for t in self._tracks])))
        kept, changed = [], False
        for t, lm, p in zip(self._tracks, lms, presence):
            if p >= self.config.min_presence:
                t.set(lm, float(p), self._frame)
                kept.append(t)
            else:
                self._lose(t)
                changed = True
        # two tracks that slid onto the same face: keep the older id
        if len(kept) > 1:
            iou = pairwise_iou(np.stack([t.box for t in kept]), np.stack([t.box for t in kept]))
            np.fill_diagonal(iou, 0.0)
            drop: set[int] = set()
            for i, j in zip(*np.nonzero(np.triu(iou) > self.config.duplicate_iou)):
                if i in drop or j in drop:
                    continue
                drop.add(int(j) if kept[i].track_id < kept[j].track_id else int(i))
            if drop:
                changed = True
                kept = [t for k, t in enumerate(kept) if k not in drop]
        self._tracks = kept
        return changed

    def _add_detections(self, image: np.ndarray, dets: list[Face], fresh: set[int]) -> None:
        """Detections not covered by a live track become tracks (new id, or a lost track's id)."""
        cfg = self.config
        if not dets:
            return
        if self._tracks:
            iou = pairwise_iou(np.stack([d.box for d in dets]), np.stack([t.box for t in self._tracks]))
            dets = [d for d, row in zip(dets, iou) if row.max() < cfg.match_iou]
        if not dets:
            return
        # no point landmarking more candidates than could be kept (+1 in case FaceMesh rejects one)
        if cfg.only == "center":
            cx, cy = image.shape[1] / 2.0, image.shape[0] / 2.0
            dets = sorted(dets, key=lambda d: (d.center[0] - cx) ** 2 + (d.center[1] - cy) ** 2)[:2]
        else:
            dets = sorted(dets, key=lambda d: -d.area)[: 2 if cfg.only == "largest" else cfg.max_faces]
        rois = np.stack([roi_from_detection(d.box, d.keypoints) for d in dets])
        lms, presence = self.landmarker.run(image, rois)
        for d, lm, p in zip(dets, lms, presence):
            if p < cfg.min_presence:
                continue
            box = points_box(lm)
            if self._tracks and pairwise_iou(box, np.stack([t.box for t in self._tracks])).max() > cfg.duplicate_iou:
                continue  # the detection ROI landed on an already tracked face
            track = self._revive(box)
            if track is None:
                track = _Track(self._next_id, lm, float(p) * d.score, self._new_filter(), self._frame)
                self._next_id += 1
            track.set(lm, float(p) * d.score, self._frame)
            self._tracks.append(track)
            fresh.add(track.track_id)

    def _revive(self, box: np.ndarray) -> _Track | None:
        """A recently lost track at (about) this place, removed from the lost list; None if none."""
        if not self._lost:
            return None
        iou = pairwise_iou(box, np.stack([t.box for t in self._lost]))[0]
        best = int(iou.argmax())
        if iou[best] < self.config.match_iou:
            return None
        track = self._lost.pop(best)
        track.filter.reset()  # it may have moved while lost: do not drag it from the old place
        log.debug("track %d re-identified after %d frames", track.track_id, self._frame - track.last_seen)
        return track

    def _select(self, shape: tuple[int, ...], fresh: set[int]) -> None:
        """Apply ``only`` and ``max_faces``; faces tracked before this frame win ties (hysteresis)."""
        cfg = self.config
        tracks = self._tracks
        if not tracks:
            return
        bias = np.array([1.0 if t.track_id in fresh else KEEP_BIAS for t in tracks])
        if cfg.only == "center":
            centres = np.array([[(t.box[0] + t.box[2]) / 2, (t.box[1] + t.box[3]) / 2] for t in tracks])
            dist = np.hypot(centres[:, 0] - shape[1] / 2.0, centres[:, 1] - shape[0] / 2.0)
            order = np.argsort(dist / bias, kind="stable")
            limit = 1
        else:
            order = np.argsort(-np.array([t.area for t in tracks]) * bias, kind="stable")
            limit = 1 if cfg.only == "largest" else cfg.max_faces
        keep = {int(i) for i in order[:limit]}
        for i, t in enumerate(tracks):
            if i not in keep:
                self._lose(t)
        self._tracks = [t for i, t in enumerate(tracks) if i in keep]

    # ------------------------------------------------------------------ the stage
    def update(self, image: np.ndarray, timestamp: float | None = None) -> list[Face]:
        """Faces of this RGB frame with stable ``track_id`` s and smoothed landmarks / keypoints.

        ``timestamp`` (seconds) overrides the clock the smoothing uses (frame / fps, or wall time).
        """
        cfg = self.config
        now = self._now(timestamp)
        frame = self._frame
        self.frames += 1
        if image is None or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
            self._frame += 1
            return []
        changed = self._track_existing(image)
        fresh: set[int] = set()
        if changed or not self._tracks or frame - self._last_detect >= cfg.detect_every:
            self._last_detect = frame
            self.detections += 1
            self._add_detections(image, self.detector.detect(image), fresh)
        self._select(image.shape, fresh)
        self._lost = [t for t in self._lost if frame - t.last_seen <= cfg.keep_lost]
        faces = []
        for t in sorted(self._tracks, key=lambda t: t.track_id):
            if cfg.smoothing:
                size = float(np.sqrt(max(t.area, 1.0)))  # speeds in face sizes per second
                lm = t.filter(t.landmarks, now, scale=size)
            else:
                lm = t.landmarks.copy()
            faces.append(face_from_landmarks(lm, t.score, t.track_id))
        self._frame += 1
        return faces


class DetectAndLandmark:
    """Single-image detector with precise keypoints: detector boxes refined by FaceMesh.

    Training data preparation and the runtime's single-image paths both use this (through
    ``create_detector``), so aligned crops match what the tracker produces on video.

    Two fallbacks run only when the first pass finds nothing: a margin around the picture (a face
    filling the whole picture, e.g. a tight portrait crop, is outside what the full-range model was
    trained on) and, for BlazeFace, a tiled pass for faces too small for one 192x192 look.
    """

    def __init__(self, detector: Detector, landmarker: FaceMeshLandmarker, min_presence: float = 0.5,
                 fallbacks: bool = True) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.landmarker.min_presence = min_presence
        self.fallbacks = fallbacks

    def _refine(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        return sorted(self.landmarker.refine(image, faces), key=lambda f: -f.area)

    def detect(self, image: np.ndarray) -> list[Face]:
        if image is None or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
            return []
        faces = self._refine(image, self.detector.detect(image))
        if faces or not self.fallbacks or min(image.shape[:2]) < 32:
            return faces
        h, w = image.shape[:2]
        py, px = h // 3, w // 3
        padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        faces = self._refine(padded, self.detector.detect(padded))
        if faces:
            shift = np.array([px, py], np.float32)
            for f in faces:
                f.box -= np.tile(shift, 2)
                f.keypoints -= shift
                if f.landmarks is not None:
                    f.landmarks -= shift
            return faces
        if isinstance(self.detector, TiledDetector):
            dets = [Face(d.box, d.score, coarse_five(d.keypoints)) for d in self.detector.detect_tiled(image)]
            faces = self._refine(image, dets)
        return faces

