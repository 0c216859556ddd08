"""FaceMesh (468 landmarks) on a rotated square ROI per face; the five alignment points come from it."""

from __future__ import annotations

import math

import cv2
import numpy as np

from livefilter.detect.onnx_session import create_session, model_path
from livefilter.types import Face

INPUT = 192
ROI_SCALE = 1.5  # MediaPipe enlarges the face rectangle by 1.5x before landmarking

# FaceMesh topology indices (image-left = the subject's right side in a non-mirrored image).
LEFT_EYE = (33, 133, 159, 145)
RIGHT_EYE = (263, 362, 386, 374)
NOSE_TIP = 1
MOUTH_LEFT, MOUTH_RIGHT = 61, 291


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) alignment keypoints from 468 landmarks: eye centres, nose tip, mouth corners."""
    return np.stack(
        [
            landmarks[list(LEFT_EYE)].mean(0),
            landmarks[list(RIGHT_EYE)].mean(0),
            landmarks[NOSE_TIP],
            landmarks[MOUTH_LEFT],
            landmarks[MOUTH_RIGHT],
        ]
    ).astype(np.float32)


def roi_transform(center: np.ndarray, size: float, angle: float) -> np.ndarray:
    """2x3 frame->ROI matrix: rotate by -angle about ``center``, scale ``size`` px to 192 px."""
    s = INPUT / max(size, 1.0)
    c, si = math.cos(-angle) * s, math.sin(-angle) * s
    m = np.array([[c, -si, 0.0], [si, c, 0.0]], np.float64)
    m[:, 2] = INPUT / 2.0 - m[:, :2] @ center
    return m


def roi_from_keypoints(box: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, float, float]:
    """ROI centre, side and roll from a face box and its eye keypoints."""
    eye_l, eye_r = keypoints[0], keypoints[1]
    angle = math.atan2(float(eye_r[1] - eye_l[1]), float(eye_r[0] - eye_l[0]))
    centre = np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0], np.float64)
    side = max(box[2] - box[0], box[3] - box[1]) * ROI_SCALE
    return centre, float(side), angle


def roi_from_landmarks(landmarks: np.ndarray) -> tuple[np.ndarray, float, float]:
    """ROI for the next frame from this frame's landmarks (tracking without the detector)."""
    kp = five_points(landmarks)
    angle = math.atan2(float(kp[1, 1] - kp[0, 1]), float(kp[1, 0] - kp[0, 0]))
    # measure the extent in the face's own (de-rotated) frame
    c, s = math.cos(-angle), math.sin(-angle)
    centre0 = landmarks.mean(0)
    rel = (landmarks - centre0) @ np.array([[c, s], [-s, c]], np.float32)
    lo, hi = rel.min(0), rel.max(0)
    mid = (lo + hi) / 2.0
    centre = centre0 + mid @ np.array([[c, -s], [s, c]], np.float32)
    side = float(max(hi - lo)) * ROI_SCALE
    return centre.astype(np.float64), side, angle


class FaceMeshLandmarker:
    """Dense landmarks + presence score for faces whose rough position is known."""

    def __init__(self, threads: int | None = None) -> None:
        self.session = create_session(model_path("facemesh_468.onnx"), threads)
        self._input = self.session.get_inputs()[0].name
        self._crop = np.zeros((INPUT, INPUT, 3), np.uint8)
        self._tensor = np.zeros((1, 3, INPUT, INPUT), np.float32)

    def landmarks(self, image: np.ndarray, centre: np.ndarray, side: float, angle: float) -> tuple[np.ndarray, float]:
        """(468, 2) landmarks in frame pixels and the face-presence probability."""
        m = roi_transform(centre, side, angle)
        cv2.warpAffine(image, m, (INPUT, INPUT), dst=self._crop, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT)
        np.multiply(self._crop.transpose(2, 0, 1), 1.0 / 255.0, out=self._tensor[0])
        pts, flag = self.session.run(None, {self._input: self._tensor})
        local = pts.reshape(468, 3)[:, :2].astype(np.float64)
        inv = cv2.invertAffineTransform(m)
        frame_pts = local @ inv[:, :2].T + inv[:, 2]
        presence = 1.0 / (1.0 + math.exp(-float(np.clip(flag.ravel()[0], -50, 50))))
        return frame_pts.astype(np.float32), presence

    def refine(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Fill precise keypoints and landmarks (one model call per face; batch is fixed at 1)."""
        out = []
        for f in faces:
            centre, side, angle = roi_from_keypoints(f.box, f.keypoints)
            lm, presence = self.landmarks(image, centre, side, angle)
            out.append(face_from_landmarks(lm, presence * f.score, f.track_id))
        return out


def face_from_landmarks(landmarks: np.ndarray, score: float, track_id: int = -1) -> Face:
    lo, hi = landmarks.min(0), landmarks.max(0)
    return Face(np.array([lo[0], lo[1], hi[0], hi[1]], np.float32), float(score), five_points(landmarks),
                landmarks, track_id)
