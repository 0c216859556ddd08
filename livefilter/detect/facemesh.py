"""FaceMesh (468 landmarks) on a rotated square ROI per face; the five alignment points come from it.

An ROI is (cx, cy, side, angle) in frame pixels / radians: a square of ``side`` pixels centred on
(cx, cy), rotated by ``angle`` (the roll of the eye line), so FaceMesh always sees an upright face.
All faces of a frame are warped into one preallocated batch and FaceMesh runs once per frame.

Coordinates: FaceMesh outputs continuous coordinates in its 192x192 input (the crop spans [0, 192]);
frames use pixel-index coordinates (pixel i's centre is at i). The transforms below convert.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from livefilter.detect.topology import LEFT_EYE_KEYS, MOUTH_LEFT, MOUTH_RIGHT, NOSE_TIP, NUM_LANDMARKS, RIGHT_EYE_KEYS
from livefilter.detect.geometry import points_box
from livefilter.infra.onnx_session import create_session, dynamic_batch, model_path
from livefilter.types import Face

log = logging.getLogger(__name__)

INPUT = 192
MODEL_FILE = "facemesh_468.onnx"
ROI_SCALE = 1.5  # MediaPipe enlarges the face rectangle 1.5x (square, long side) before landmarking



def _five_point_weights() -> np.ndarray:
    w = np.zeros((5, NUM_LANDMARKS), np.float32)
    w[0, list(LEFT_EYE_KEYS)] = 1.0 / len(LEFT_EYE_KEYS)  # eye centre = mean of corners and lid midpoints
    w[1, list(RIGHT_EYE_KEYS)] = 1.0 / len(RIGHT_EYE_KEYS)
    w[2, NOSE_TIP] = 1.0
    w[3, MOUTH_LEFT] = 1.0
    w[4, MOUTH_RIGHT] = 1.0
    return w


#: (5, 468) linear map landmarks -> five alignment keypoints (order livefilter.types.KEYPOINT_NAMES)
FIVE_POINT_WEIGHTS = _five_point_weights()


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """(..., 5, 2) alignment keypoints from (..., 468, 2) landmarks: eye centres, nose tip, mouth corners."""
    return np.matmul(FIVE_POINT_WEIGHTS, landmarks.astype(np.float32, copy=False))


def roi_from_detection(box: np.ndarray, keypoints: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """(4,) ROI from a detector box and its (image-left, image-right) eye keypoints.

    MediaPipe's DetectionsToRects + RectTransformation: centre of the box, roll from the eye line,
    square of the box's long side times ``scale``.
    """
    d = keypoints[1] - keypoints[0]
    angle = float(np.arctan2(d[1], d[0]))
    side = float(max(box[2] - box[0], box[3] - box[1])) * scale
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0, side, angle], np.float64)


def rois_from_landmarks(landmarks: np.ndarray, scale: float = ROI_SCALE) -> np.ndarray:
    """(K, 4) ROIs for the next frame from this frame's (K, 468, 2) landmarks (tracking).

    The roll comes from the eye centres; the extent is measured in the face's own (de-rotated)
    frame, so a tilted face does not get an inflated ROI.
    """
    lm = np.asarray(landmarks, np.float64).reshape(-1, NUM_LANDMARKS, 2)
    kp = five_points(lm).astype(np.float64)
    d = kp[:, 1] - kp[:, 0]
    angle = np.arctan2(d[:, 1], d[:, 0])
    c, s = np.cos(angle), np.sin(angle)
    # de-rotate: u = R(-angle) p  ->  ux = c x + s y, uy = -s x + c y
    ux = c[:, None] * lm[..., 0] + s[:, None] * lm[..., 1]
    uy = -s[:, None] * lm[..., 0] + c[:, None] * lm[..., 1]
    mx = (ux.min(1) + ux.max(1)) / 2.0
    my = (uy.min(1) + uy.max(1)) / 2.0
    side = np.maximum(ux.max(1) - ux.min(1), uy.max(1) - uy.min(1)) * scale
    cx, cy = c * mx - s * my, s * mx + c * my  # rotate the extent's centre back
    return np.stack([cx, cy, side, angle], 1)


def roi_matrices(rois: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(K, 2, 3) frame->crop affine matrices (pixel-index coordinates on both sides) for cv2.warpAffine."""
    rois = np.asarray(rois, np.float64).reshape(-1, 4)
    k = len(rois)
    m = out if out is not None else np.empty((k, 2, 3), np.float64)
    s = INPUT / np.maximum(rois[:, 2], 1.0)
    c, si = np.cos(rois[:, 3]) * s, np.sin(rois[:, 3]) * s
    # u = A (p - centre) + 96 in continuous coords (A = s R(-angle)); with pixel-index coords on
    # both sides (index = continuous - 0.5) the offsets cancel to: u = A (p - centre) + 95.5
    m[:, 0, 0], m[:, 0, 1] = c, si
    m[:, 1, 0], m[:, 1, 1] = -si, c
    cx, cy = rois[:, 0], rois[:, 1]
    m[:, 0, 2] = (INPUT / 2.0 - 0.5) - (c * cx + si * cy)
    m[:, 1, 2] = (INPUT / 2.0 - 0.5) - (-si * cx + c * cy)
    return m


def crop_to_frame(points: np.ndarray, rois: np.ndarray) -> np.ndarray:
    """(K, N, 2) continuous crop coordinates -> frame pixel-index coordinates, all faces at once."""
    rois = np.asarray(rois, np.float64).reshape(-1, 4)
    k = rois[:, 2:3] / INPUT  # frame px per crop px
    c, s = np.cos(rois[:, 3])[:, None], np.sin(rois[:, 3])[:, None]
    u = (points[..., 0] - INPUT / 2.0) * k
    v = (points[..., 1] - INPUT / 2.0) * k
    x = c * u - s * v + rois[:, 0:1]
    y = s * u + c * v + rois[:, 1:2]
    return np.stack([x, y], -1).astype(np.float32)


def face_from_landmarks(landmarks: np.ndarray, score: float, track_id: int = -1) -> Face:
    """A Face whose box is the landmarks' bounding box and whose keypoints derive from them."""
    return Face(points_box(landmarks), float(score), five_points(landmarks), landmarks, track_id)


class FaceMeshLandmarker:
    """Dense landmarks + face-presence score for faces whose rough position is known (Landmarker protocol)."""

    def __init__(self, threads: int | None = None, max_batch: int = 4, min_presence: float = 0.5) -> None:
        self._load_model(threads)
        self.min_presence = float(min_presence)
        self._crops = np.zeros((0, INPUT, INPUT, 3), np.uint8)
        self._tensor = np.zeros((0, 3, INPUT, INPUT), np.float32)
        self._mats = np.zeros((0, 2, 3), np.float64)
        self._ensure(max(1, max_batch))

    def _load_model(self, threads: int | None) -> None:
        """Open the model (onnxruntime here; the device face stage runs it through torch instead)."""
        self.session = create_session(model_path(MODEL_FILE), threads)
        self._input = self.session.get_inputs()[0].name
        self._batched = dynamic_batch(self.session)

    def _ensure(self, n: int) -> None:
        """Grow the preallocated crop / tensor buffers to hold ``n`` faces (grow-only)."""
        if self._crops.shape[0] < n:
            self._crops = np.zeros((n, INPUT, INPUT, 3), np.uint8)
            self._tensor = np.zeros((n, 3, INPUT, INPUT), np.float32)
            self._mats = np.zeros((n, 2, 3), np.float64)

    def run(self, image: np.ndarray, rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks (K, 468, 2) in frame pixels and presence probabilities (K,) for K ROIs.

        One warpAffine per face into the preallocated batch, then one model call for all faces.
        """
        rois = np.asarray(rois, np.float64).reshape(-1, 4)
        k = len(rois)
        if k == 0:
            return np.zeros((0, NUM_LANDMARKS, 2), np.float32), np.zeros(0, np.float32)
        self._ensure(k)
        pts, flag = self._infer(image, roi_matrices(rois, self._mats[:k]))
        local = pts.reshape(k, NUM_LANDMARKS, 3)[..., :2]
        presence = 1.0 / (1.0 + np.exp(-np.clip(flag.reshape(k).astype(np.float64), -50.0, 50.0)))
        return crop_to_frame(local, rois), presence.astype(np.float32)

    def _infer(self, image: np.ndarray, mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Warp every ROI (frame->crop ``mats``) into the batch and run the model: raw outputs."""
        k = len(mats)
        for i in range(k):  # per face, not per pixel: OpenCV does the warp
            cv2.warpAffine(image, mats[i], (INPUT, INPUT), dst=self._crops[i], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
        # NHWC uint8 -> NCHW float in [0, 1], in place into the preallocated tensor
        np.multiply(self._crops[:k].transpose(0, 3, 1, 2), 1.0 / 255.0, out=self._tensor[:k])
        if self._batched:
            pts, flag = self.session.run(None, {self._input: self._tensor[:k]})
        else:  # a fixed-batch model (not the bundled one): one call per face
            outs = [self.session.run(None, {self._input: self._tensor[i : i + 1]}) for i in range(k)]
            pts, flag = np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])
        return pts, flag

    def crops(self, k: int) -> np.ndarray:
        """The last ``k`` input crops (a view into the batch buffer; for debugging and tests)."""
        return self._crops[:k]

    def refine(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Precise keypoints, landmarks and box for faces from a detector (one batched model call).

        Faces whose FaceMesh presence is below ``min_presence`` are dropped (false detections);
        the score becomes detector score x presence.
        """
        if not faces:
            return []
        rois = np.stack([roi_from_detection(f.box, f.keypoints) for f in faces])
        lms, presence = self.run(image, rois)
        out = []
        for f, lm, p in zip(faces, lms, presence):
            if p >= self.min_presence:
                out.append(face_from_landmarks(lm, float(p) * f.score, f.track_id))
        return out
