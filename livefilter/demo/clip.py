"""The offline demo: a moving clip synthesised from a real group photo that ships with a dependency."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from livefilter.errors import InputError, OutputError
from livefilter.sinks.file_sink import FileSink
from livefilter.types import CapturedFrame, SourceInfo

log = logging.getLogger(__name__)


def save_rgb(path: Path, rgb: np.ndarray, *, overwrite: bool = True, params: list[int] | None = None) -> Path:
    """Encode an RGB image by ``path``'s suffix (.png, .jpg) and write it atomically."""
    from livefilter.infra.atomic import write_bytes

    ok, data = cv2.imencode(Path(path).suffix or ".png", np.ascontiguousarray(rgb[:, :, ::-1]), params or [])
    if not ok:
        raise OutputError(f"cannot encode an image as {Path(path).suffix or '.png'} for {path}")
    return write_bytes(path, data.tobytes(), overwrite=overwrite)


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot read image {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def camera_path(t: float) -> np.ndarray:
    """A slow hand-held camera move at time ``t`` in [0, 1]: 2x3 matrix output->photo (unit square)."""
    zoom = 1.0 + 0.18 * math.sin(math.pi * t)  # zoom in and back out
    angle = math.radians(4.0 * math.sin(2.0 * math.pi * t))  # gentle roll
    pan_x = 0.06 * math.sin(2.0 * math.pi * t)
    pan_y = 0.03 * math.sin(4.0 * math.pi * t)
    c, s = math.cos(angle) / zoom, math.sin(angle) / zoom
    return np.array([[c, -s, 0.5 + pan_x], [s, c, 0.5 + pan_y]], np.float64)


def synthesise_clip(
    photo: np.ndarray, out_path: Path, *, width: int = 1280, height: int = 720, fps: int = 30, seconds: float = 4.0
) -> int:
    """Write a pan/zoom/roll clip of ``photo`` to ``out_path``; returns the frame count."""
    ph, pw = photo.shape[:2]
    # Fit the photo's shorter extent (relative to the output aspect) with a margin for the motion.
    fit = min(pw / width, ph / height) * 0.92
    n = int(round(fps * seconds))
    info = SourceInfo(width=width, height=height, fps=float(fps), is_live=False, time_base=(fps, 1))
    sink = FileSink(str(out_path), info, overwrite=True, crf=16)
    frame = np.empty((height, width, 3), np.uint8)
    try:
        for i in range(n):
            m = camera_path(i / max(n - 1, 1))
            # output pixel (u, v) -> centred unit coords -> rotate/zoom -> photo pixels
            to_unit = np.array([[fit, 0, -fit * width / 2], [0, fit, -fit * height / 2], [0, 0, 1]])
            rot = np.vstack([np.hstack([m[:, :2], np.zeros((2, 1))]), [0, 0, 1]])
            centre = np.array([[1, 0, pw * m[0, 2]], [0, 1, ph * m[1, 2]], [0, 0, 1]])
            full = (centre @ rot @ to_unit)[:2]
            cv2.warpAffine(photo, full, (width, height), dst=frame, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT101)
            sink.write(frame, CapturedFrame(frame, i, 0.0))
    finally:
        sink.close()
    return n


def side_by_side(before: np.ndarray, after: np.ndarray, label: bool = True) -> np.ndarray:
    pair = np.concatenate([before, after], axis=1)
    if label:
        for text, x in (("before", 12), ("after", before.shape[1] + 12)):
            cv2.putText(pair, text, (x, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 4, cv2.LINE_AA)
            cv2.putText(pair, text, (x, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
    return pair
