"""Plain data passed between pipeline stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from livefilter.errors import LookError

#: Order of the five alignment keypoints everywhere in livefilter (image left/right, as seen).
KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(slots=True)
class Face:
    """One face in one frame, in frame pixel coordinates."""

    box: np.ndarray  # (4,) float32 x1, y1, x2, y2
    score: float
    keypoints: np.ndarray  # (5, 2) float32, order KEYPOINT_NAMES
    landmarks: np.ndarray | None = None  # (N, 2) dense landmarks (FaceMesh: 468) when available
    track_id: int = -1
    enabled: bool = True  # per-face on/off (a disabled face is tracked but not styled)

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return float(max(0.0, x2 - x1) * max(0.0, y2 - y1))

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return float(x1 + x2) / 2.0, float(y1 + y2) / 2.0


@dataclass(slots=True)
class CapturedFrame:
    """A decoded RGB frame with its capture time (``time.perf_counter()``) and position."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, C-contiguous
    index: int
    captured_at: float
    pts_seconds: float | None = None


@dataclass(slots=True)
class SourceInfo:
    """What a source delivers; sinks are opened from it."""

    width: int
    height: int
    fps: float
    is_live: bool
    description: str = ""
    frame_count: int | None = None
    audio_path: str | None = None  # a file whose audio a file sink may copy
    time_base: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)


class RawDetection(NamedTuple):
    """One detector hit before tracking: a box, a score and the detector's keypoints (frame pixels)."""

    box: np.ndarray  # (4,) float32 x1y1x2y2, frame pixels
    score: float
    keypoints: np.ndarray  # (6, 2) float32, frame pixels


@dataclass(frozen=True)
class ColorEdits:
    """Post-edits applied to the stylised face; each in [-1, 1], 0 = unchanged."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    warmth: float = 0.0

    def validate(self) -> "ColorEdits":
        for k, v in asdict(self).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not -1.0 <= v <= 1.0:
                raise LookError(f"colour edit '{k}' must be a number in [-1, 1], got {v!r}")
        return self

    @property
    def is_identity(self) -> bool:
        return not any(asdict(self).values())


class Tracked(NamedTuple):
    """What the face stage hands the styling stages for one frame.

    ``faces``: the faces found, or the error the face stage raised (the failure policy applies it when
    the frame is styled). ``upload``: the styling part's own per-frame state made while tracking (the
    device styling's upload of the frame; None on the host). ``scene_mask``: the frame's person mask
    (``livefilter.scene``) when the host pipeline made it ahead.
    """

    faces: "list[Face] | BaseException"
    upload: object = None
    scene_mask: object = None  # the person mask (and background layer) made ahead on the host, or None
