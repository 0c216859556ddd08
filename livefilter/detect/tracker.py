"""Detect every N frames, track with FaceMesh in between, smooth with One-Euro, keep stable ids."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from livefilter.detect.facemesh import FaceMeshLandmarker, face_from_landmarks, roi_from_keypoints, roi_from_landmarks
from livefilter.detect.one_euro import OneEuroFilter
from livefilter.errors import SettingError
from livefilter.types import Face

log = logging.getLogger(__name__)


@dataclass
class TrackerConfig:
    detect_every: int = 10  # full detection period in frames
    max_faces: int = 4
    only: str = "all"  # all | largest | center
    min_presence: float = 0.5  # FaceMesh presence below this = track lost -> detect next frame
    match_iou: float = 0.3
    smoothing: bool = True
    min_cutoff: float = 1.0
    beta: float = 0.05
    fps: float | None = None  # timestamps from frame count / fps (files); None = wall clock

    def validate(self) -> "TrackerConfig":
        if not 1 <= self.detect_every <= 300:
            raise SettingError(f"detect_every must be 1..300, got {self.detect_every}")
        if not 1 <= self.max_faces <= 16:
            raise SettingError(f"max_faces must be 1..16, got {self.max_faces}")
        if self.only not in ("all", "largest", "center"):
            raise SettingError(f"only must be all, largest or center, got {self.only!r}")
        return self


@dataclass
class _Track:
    track_id: int
    landmarks: np.ndarray
    score: float
    filter: OneEuroFilter
    smoothed: np.ndarray = field(default=None)  # type: ignore[assignment]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceTracker:
    """The runtime's face stage (FaceTracker protocol)."""

    def __init__(self, detector, landmarker: FaceMeshLandmarker, config: TrackerConfig | None = None) -> None:
        self.config = (config or TrackerConfig()).validate()
        self.detector = detector
        self.landmarker = landmarker
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frame = 0
        self.detections = 0  # how often the full detector ran

    def reset(self) -> None:
        self._tracks.clear()
        self._frame = 0

    def _now(self) -> float:
        return self._frame / self.config.fps if self.config.fps else time.perf_counter()

    def _select(self, faces: list[Face], shape: tuple[int, ...]) -> list[Face]:
        cfg = self.config
        if cfg.only == "largest" and faces:
            faces = [max(faces, key=lambda f: f.area)]
        elif cfg.only == "center" and faces:
            cx, cy = shape[1] / 2.0, shape[0] / 2.0
            faces = [min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)]
        return sorted(faces, key=lambda f: -f.area)[: cfg.max_faces]

    def _detect(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        self.detections += 1
        found = []
        for f in self._select(self.detector.detect(image), image.shape):
            centre, side, angle = roi_from_keypoints(f.box, f.keypoints)
            lm, presence = self.landmarker.landmarks(image, centre, side, angle)
            if presence >= self.config.min_presence:
                found.append((lm, presence * f.score))
        return found

    def _track(self, image: np.ndarray) -> list[tuple[np.ndarray, float]] | None:
        """Landmarks of every track from its previous landmarks; None when a track is lost."""
        out = []
        for t in self._tracks:
            centre, side, angle = roi_from_landmarks(t.landmarks)
            lm, presence = self.landmarker.landmarks(image, centre, side, angle)
            if presence < self.config.min_presence:
                return None
            out.append((lm, presence))
        return out

    def _assign(self, found: list[tuple[np.ndarray, float]], image: np.ndarray) -> None:
        """Match new landmark sets to tracks by box IoU; unmatched detections get new ids.

        A track the detector missed survives if FaceMesh still finds its face (detectors miss
        small or turned faces now and then; that must not reset the face's id).
        """
        def box(lm):
            lo, hi = lm.min(0), lm.max(0)
            return np.array([lo[0], lo[1], hi[0], hi[1]])

        old = self._tracks
        used: set[int] = set()
        new_tracks: list[_Track] = []
        pairs = sorted(
            ((iou(box(lm), box(t.landmarks)), i, j) for i, (lm, _) in enumerate(found) for j, t in enumerate(old)),
            reverse=True,
        )
        matched: dict[int, int] = {}
        for score, i, j in pairs:
            if score < self.config.match_iou or i in matched or j in used:
                continue
            matched[i] = j
            used.add(j)
        for i, (lm, s) in enumerate(found):
            if i in matched:
                t = old[matched[i]]
                t.landmarks, t.score = lm, s
            else:
                t = _Track(self._next_id, lm, s, OneEuroFilter(self.config.min_cutoff, self.config.beta))
                self._next_id += 1
            new_tracks.append(t)
        for j, t in enumerate(old):
            if j in used or len(new_tracks) >= self.config.max_faces:
                continue
            centre, side, angle = roi_from_landmarks(t.landmarks)
            lm, presence = self.landmarker.landmarks(image, centre, side, angle)
            if presence >= self.config.min_presence:
                t.landmarks, t.score = lm, presence
                new_tracks.append(t)
        self._tracks = new_tracks

    def update(self, image: np.ndarray) -> list[Face]:
        cfg = self.config
        tracked = None
        if self._tracks and self._frame % cfg.detect_every != 0:
            tracked = self._track(image)
        if tracked is None:
            self._assign(self._detect(image), image)
        else:
            for t, (lm, s) in zip(self._tracks, tracked):
                t.landmarks, t.score = lm, s
        now = self._now()
        faces = []
        for t in self._tracks:
            lm = t.filter(t.landmarks, now) if cfg.smoothing else t.landmarks
            faces.append(face_from_landmarks(lm, t.score, t.track_id))
        self._frame += 1
        return faces


class DetectAndLandmark:
    """Single-image detector with precise keypoints: BlazeFace boxes refined by FaceMesh.

    Training data preparation and the runtime both use this, so aligned crops match exactly.
    """

    def __init__(self, detector, landmarker: FaceMeshLandmarker, min_presence: float = 0.5) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.min_presence = min_presence

    def detect(self, image: np.ndarray) -> list[Face]:
        faces = self._detect(image)
        if not faces and min(image.shape[:2]) >= 32:
            # A face that fills the whole picture (a tight portrait crop) is outside what the
            # full-range model was trained on: retry once with a margin around the picture.
            h, w = image.shape[:2]
            py, px = h // 3, w // 3
            padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            faces = self._detect(padded)
            shift = np.array([px, py], np.float32)
            for f in faces:
                f.box -= np.tile(shift, 2)
                f.keypoints -= shift
                f.landmarks -= shift
        return faces

    def _detect(self, image: np.ndarray) -> list[Face]:
        faces = []
        for f in self.detector.detect(image):
            centre, side, angle = roi_from_keypoints(f.box, f.keypoints)
            lm, presence = self.landmarker.landmarks(image, centre, side, angle)
            if presence >= self.min_presence:
                faces.append(face_from_landmarks(lm, presence * f.score))
        return sorted(faces, key=lambda f: -f.area)
