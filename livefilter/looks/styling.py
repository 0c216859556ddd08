"""Style aligned face crops with a look code, composited under the runtime's face-oval mask.

Look creation needs to see what a code does (the fine-tuning pass and the pack's preview) without a
video pipeline: the same onnxruntime translator and feathered face mask the runtime uses, applied in
crop space. The masks are computed once per face; only the code changes between calls.
"""

from __future__ import annotations

import numpy as np

from livefilter.looks.pack import Look
from livefilter.composite.masks import LandmarkMasker
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator

_EYE = np.array([[1, 0, 0], [0, 1, 0]], np.float64)  # crop space is the frame here


class CropStyler:
    """``CropStyler(look, crops, landmarks)(code, strength)`` -> styled crops (N, S, S, 3) uint8."""

    def __init__(self, look: Look, crops: np.ndarray, landmarks: np.ndarray, threads: int = 1) -> None:
        if crops.shape[1] != look.input_size:
            raise ValueError(f"crops are {crops.shape[1]} px, the look runs at {look.input_size}")
        self.crops = np.ascontiguousarray(crops)
        self.translator = OnnxRuntimeTranslator(look, threads=threads, max_batch=max(1, len(crops)))
        masker = LandmarkMasker(crops.shape[1])
        self.masks = np.stack([masker.face(p, _EYE, 0, c).copy() for p, c in zip(landmarks, crops)])[..., None]
        self._base = self.crops.astype(np.float32)

    def __call__(self, code: np.ndarray, strength: float = 1.0) -> np.ndarray:
        n = len(self.crops)
        styled = self.translator(self.crops, np.asarray(code, np.float32), np.full(n, strength, np.float32))
        out = self._base + self.masks * (styled.astype(np.float32) - self._base)
        return np.clip(out, 0, 255).round().astype(np.uint8)
