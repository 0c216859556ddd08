"""Composite stylised crops back into the frame.

Residual transfer: instead of pasting the (resampled) stylised crop, the blender warps back the
*change* the look made (stylised - original crop) and adds it to the full-resolution frame under a
feathered mask. Where the look changes nothing the frame is bit-exact, and a face larger than the
crop keeps its full-resolution detail (no down-then-up resampling blur).
"""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.align.host import invert_affine
from livefilter.composite.placement import CropPlacement, FrameGate
from livefilter.types import ColorEdits


def ellipse_mask(template: np.ndarray, size: int, feather: float = 0.18) -> np.ndarray:
    """Feathered face ellipse (S, S) float32 in [0, 1] built from the five template points."""
    eyes = template[:2].mean(0)
    mouth = template[3:].mean(0)
    eye_dist = float(np.linalg.norm(template[1] - template[0]))
    centre = eyes + 0.45 * (mouth - eyes)
    axes = (1.05 * eye_dist, 1.5 * eye_dist)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(
        mask,
        (int(round(centre[0] * 16)), int(round(centre[1] * 16))),
        (int(round(axes[0] * 16)), int(round(axes[1] * 16))),
        0, 0, 360, 1.0, -1, cv2.LINE_AA, 4,
    )
    # Distance-to-edge feathering: blur shrinks the hard edge into a smooth ramp inside the ellipse.
    sigma = max(1.0, feather * axes[0])
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)), iterations=int(sigma))
    return cv2.GaussianBlur(inner, (0, 0), sigma)


class ColorEditor:
    """Brightness / contrast / warmth as one per-channel LUT, saturation as a luma mix."""

    def __init__(self) -> None:
        self._edits: ColorEdits | None = None
        self._lut = np.empty((1, 256, 3), np.uint8)

    def _build(self, e: ColorEdits) -> None:
        x = np.arange(256, dtype=np.float32)
        base = (x - 128.0) * (1.0 + e.contrast) + 128.0 + 64.0 * e.brightness
        warm = np.array([20.0, 0.0, -20.0], np.float32) * e.warmth
        self._lut[0] = np.clip(np.rint(base[:, None] + warm[None, :]), 0, 255).astype(np.uint8)
        self._edits = ColorEdits(e.brightness, e.contrast, e.saturation, e.warmth)

    def apply(self, crops: np.ndarray, edits: ColorEdits) -> None:
        """Edit (N, S, S, 3) uint8 RGB crops in place."""
        if edits.is_identity or len(crops) == 0:
            return
        if self._edits != edits:
            self._build(edits)
        flat = crops.reshape(-1, crops.shape[-2], 3)
        if edits.brightness or edits.contrast or edits.warmth:
            cv2.LUT(flat, self._lut, dst=flat)
        if edits.saturation:
            gray = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY)
            gray3 = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
            cv2.addWeighted(flat, 1.0 + edits.saturation, gray3, -edits.saturation, 0.0, dst=flat)


class Blender:
    """Feathered-mask residual composite of stylised crops into the frame (in place).

    With a :class:`~livefilter.composite.placement.CropPlacement` and a face's frame landmarks the residual is
    placed as makeup (:mod:`livefilter.composite.placement`): lip layer inside the lip line, nothing in the mouth
    or eye openings, exact in frame pixels. Without landmarks the template ellipse is the mask."""

    def __init__(self, template: np.ndarray, size: int, mask: np.ndarray | None = None,
                 placement: CropPlacement | None = None) -> None:
        self.size = size
        self.mask = mask if mask is not None else ellipse_mask(template, size)
        self.editor = ColorEditor()
        self.placement = placement
        self.gate = FrameGate()
        self._diff = np.empty((size, size, 3), np.float32)
        self._lips = np.empty((size, size, 3), np.float32)
        self._alpha_crop = np.empty((size, size), np.float32)
        self._scratch = np.empty((0,), np.float32)

    def _buffer(self, h: int, w: int) -> np.ndarray:
        """An (h, w, 3) float32 view of one scratch buffer that only grows."""
        need = h * w * 3
        if self._scratch.size < need:
            self._scratch = np.empty((need,), np.float32)
        return self._scratch[:need].reshape(h, w, 3)

    def blend(
        self,
        frame: np.ndarray,
        originals: np.ndarray,
        styled: np.ndarray,
        matrices: np.ndarray,
        alphas: np.ndarray,
        masks: list[np.ndarray | None] | None = None,
        landmarks: list[np.ndarray | None] | None = None,
    ) -> np.ndarray:
        """Add each face's look into ``frame`` in place.

        originals / styled: (N, S, S, 3) uint8 aligned crops before / after the look;
        matrices: (N, 2, 3) frame->crop; alphas: (N,) mask opacity (strength when the network does
        not apply it itself); masks: optional per-face (S, S) masks (landmark-based) replacing the
        default ellipse; landmarks: optional per-face (468, 2) frame landmarks, which place the
        residual as makeup when the blender has a placement.
        """
        fh, fw = frame.shape[:2]
        s = self.size
        corners = np.array([[0, 0, 1], [s, 0, 1], [0, s, 1], [s, s, 1]], np.float64).T
        for i in range(len(matrices)):  # one set of cv2 calls per face, never per pixel
            a = float(alphas[i])
            if a <= 0.0:
                continue
            inv = invert_affine(matrices[i])
            pts = inv @ corners
            x0 = max(int(np.floor(pts[0].min())), 0)
            y0 = max(int(np.floor(pts[1].min())), 0)
            x1 = min(int(np.ceil(pts[0].max())) + 1, fw)
            y1 = min(int(np.ceil(pts[1].max())) + 1, fh)
            if x1 <= x0 or y1 <= y0:
                continue
            w, h = x1 - x0, y1 - y0
            shifted = inv.copy()
            shifted[:, 2] -= (x0, y0)
            # Premultiply in crop space (S x S): only one warp and one add touch the ROI.
            cv2.subtract(styled[i], originals[i], dst=self._diff, dtype=cv2.CV_32F)
            mask = masks[i] if masks is not None and masks[i] is not None else self.mask
            marks = landmarks[i] if landmarks is not None else None
            placed = self.placement is not None and marks is not None
            if placed:
                crop_pts = marks[:, :2] @ matrices[i][:, :2].T + matrices[i][:, 2]
                self.placement.layers(self._diff, mask, a, crop_pts, self._lips)
            else:
                np.multiply(mask, a, out=self._alpha_crop)
                np.multiply(self._diff, self._alpha_crop[:, :, None], out=self._diff)
            delta = self._buffer(h, w)
            cv2.warpAffine(self._diff, shifted, (w, h), dst=delta, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            roi = frame[y0:y1, x0:x1]
            if placed:
                self.gate.apply(delta, roi, (x0, y0), self._lips, inv, marks)
            cv2.add(roi, delta, dst=roi, dtype=cv2.CV_8U)
        return frame
