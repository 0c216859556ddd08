"""The detectors that ship with livefilter, registered in ``--detector`` order."""

from __future__ import annotations

from livefilter.choices import DETECTORS
from livefilter.detect.registry import DetectorSpec, names, register_detector


def _blazeface(score_threshold: float, threads: int | None, max_faces: int | None):
    from livefilter.detect.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(score_threshold, max_faces=max_faces, threads=threads)


def _insightface(score_threshold: float, threads: int | None, max_faces: int | None):
    from livefilter.detect.insightface_backend import InsightFaceDetector

    return InsightFaceDetector(score_threshold=score_threshold)


register_detector(DetectorSpec("blazeface", _blazeface, note="bundled", device_twin=True))
register_detector(DetectorSpec("insightface", _insightface, note="needs its model pack"))

# ``choices.DetectorName`` types the built-in names; it must say exactly what is registered here
if names()[: len(DETECTORS)] != DETECTORS:
    raise RuntimeError(f"choices.DETECTORS {DETECTORS} does not match the built-in detectors {names()}")
