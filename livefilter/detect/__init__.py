"""Face detection, landmarks and tracking.

Default: BlazeFace full-range (detection) + FaceMesh 468 (landmarks, tracking), MediaPipe weights
converted to ONNX (see livefilter/models/README.md). Optional: insightface SCRFD + 2d106.
"""

from __future__ import annotations

from livefilter.detect.tracker import DetectAndLandmark, FaceTracker, TrackerConfig
from livefilter.errors import SettingError

BACKENDS = ("blazeface", "insightface")


def create_detector(backend: str = "blazeface", score_threshold: float = 0.5):
    """A single-image detector whose faces carry the precise five alignment keypoints."""
    if backend == "blazeface":
        from livefilter.detect.blazeface import BlazeFaceDetector
        from livefilter.detect.facemesh import FaceMeshLandmarker

        return DetectAndLandmark(BlazeFaceDetector(score_threshold), FaceMeshLandmarker())
    if backend == "insightface":
        from livefilter.detect.insightface_backend import InsightFaceDetector

        return InsightFaceDetector()
    raise SettingError(f"unknown detector {backend!r} (use {', '.join(BACKENDS)})")


def create_tracker(config: TrackerConfig | None = None, backend: str = "blazeface"):
    """The per-frame face stage: detect every N frames, FaceMesh tracking and smoothing in between."""
    from livefilter.detect.blazeface import BlazeFaceDetector
    from livefilter.detect.facemesh import FaceMeshLandmarker

    if backend == "blazeface":
        detector = BlazeFaceDetector()
    elif backend == "insightface":
        from livefilter.detect.insightface_backend import InsightFaceDetector

        detector = InsightFaceDetector()
    else:
        raise SettingError(f"unknown detector {backend!r} (use {', '.join(BACKENDS)})")
    return FaceTracker(detector, FaceMeshLandmarker(), config)


__all__ = ["DetectAndLandmark", "FaceTracker", "TrackerConfig", "create_detector", "create_tracker"]
