"""The detectors that ship with livefilter, in ``--detector`` order (``registry.py`` registers them)."""

from __future__ import annotations

from livefilter.detect.detector_spec import DetectorSpec


def _blazeface(score_threshold: float, threads: int | None, max_faces: int | None):
    from livefilter.detect.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(score_threshold, max_faces=max_faces, threads=threads)


def _insightface(score_threshold: float, threads: int | None, max_faces: int | None):
    from livefilter.detect.insightface_backend import InsightFaceDetector

    return InsightFaceDetector(score_threshold=score_threshold)


BUILTIN_DETECTORS = (
    DetectorSpec("blazeface", _blazeface, note="bundled", device_twin=True),
    DetectorSpec("insightface", _insightface, note="needs its model pack"),
)
