"""Face detection, landmarks and tracking.

Default: BlazeFace full-range (detection) + FaceMesh 468 (landmarks, tracking), MediaPipe weights
converted to ONNX (see livefilter/models/README.md), run by onnxruntime. Optional: insightface
SCRFD (``backend="insightface"``), still refined and tracked by FaceMesh so that the five alignment
keypoints are always FaceMesh-derived, for single images and video alike. Detectors are chosen by
name in the registry (``detect/registry.py``).
"""

from __future__ import annotations

from livefilter.detect import registry
from livefilter.detect.one_euro import OneEuroFilter
from livefilter.detect.tracker import DetectAndLandmark, FaceTracker, TrackerConfig
from livefilter.settings.choices import DETECTORS
from livefilter.protocols import Detector

BACKENDS = DETECTORS  # the built-in detectors; ``registry.names()`` has every registered one


def _base_detector(backend: str, score_threshold: float, threads: int | None, max_faces: int | None) -> Detector:
    return registry.check(backend).factory(score_threshold, threads, max_faces)


def create_detector(
    backend: str = "blazeface",
    score_threshold: float = 0.5,
    *,
    min_presence: float = 0.5,
    fallbacks: bool = True,
    threads: int | None = None,
) -> DetectAndLandmark:
    """A single-image detector whose faces carry FaceMesh landmarks and the five alignment keypoints.

    Faces come largest first; ``box`` is the landmarks' bounding box, ``score`` detector score x
    FaceMesh presence. ``fallbacks`` retries pictures with no face found with a margin (tight
    portrait crops) and in tiles (small faces).
    """
    from livefilter.detect.facemesh import FaceMeshLandmarker

    return DetectAndLandmark(_base_detector(backend, score_threshold, threads, None),
                             FaceMeshLandmarker(threads), min_presence, fallbacks)


def create_tracker(config: TrackerConfig | None = None, backend: str = "blazeface", *,
                   score_threshold: float = 0.5, threads: int | None = None) -> FaceTracker:
    """The per-frame face stage: detect every N frames, FaceMesh tracking and One-Euro smoothing in between."""
    from livefilter.detect.facemesh import FaceMeshLandmarker

    config = (config or TrackerConfig()).validate()
    detector = _base_detector(backend, score_threshold, threads, None)
    return FaceTracker(detector, FaceMeshLandmarker(threads, min_presence=config.min_presence), config)


__all__ = [
    "BACKENDS",
    "DetectAndLandmark",
    "FaceTracker",
    "OneEuroFilter",
    "TrackerConfig",
    "create_detector",
    "create_tracker",
]
