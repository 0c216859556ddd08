"""uint8 NHWC crops <-> normalised float NCHW tensors, into preallocated buffers."""

from __future__ import annotations

import numpy as np

from livefilter.looks.pack import Normalisation


class CropCodec:
    """Vectorised normalisation; buffers are grown once per batch size, never per frame."""

    def __init__(self, size: int, norm: Normalisation, max_batch: int = 8) -> None:
        self.size = size
        mean = np.asarray(norm.mean, dtype=np.float32)
        std = np.asarray(norm.std, dtype=np.float32)
        # x = rgb * scale + bias  (per channel), rgb = (y - bias) / scale
        self._scale = (1.0 / (255.0 * std)).reshape(1, 3, 1, 1).astype(np.float32)
        self._bias = (-mean / std).reshape(1, 3, 1, 1).astype(np.float32)
        self._inp = np.empty((max_batch, 3, size, size), dtype=np.float32)
        self._out = np.empty((max_batch, size, size, 3), dtype=np.uint8)
        self._tmp = np.empty((max_batch, 3, size, size), dtype=np.float32)

    def _ensure(self, n: int) -> None:
        if n > len(self._inp):
            s = self.size
            self._inp = np.empty((n, 3, s, s), dtype=np.float32)
            self._out = np.empty((n, s, s, 3), dtype=np.uint8)
            self._tmp = np.empty((n, 3, s, s), dtype=np.float32)

    def encode(self, crops: np.ndarray) -> np.ndarray:
        """(N,S,S,3) uint8 -> view of the (N,3,S,S) float32 input buffer."""
        n = len(crops)
        self._ensure(n)
        x = self._inp[:n]
        np.copyto(x, crops.transpose(0, 3, 1, 2), casting="unsafe")
        x *= self._scale
        x += self._bias
        return x

    def decode(self, y: np.ndarray) -> np.ndarray:
        """(N,3,S,S) float -> view of the (N,S,S,3) uint8 output buffer (rounded, clipped)."""
        n = len(y)
        self._ensure(n)
        t = self._tmp[:n]
        np.subtract(y, self._bias, out=t)
        t /= self._scale
        np.clip(t, 0.0, 255.0, out=t)
        np.rint(t, out=t)
        out = self._out[:n]
        np.copyto(out, t.transpose(0, 2, 3, 1), casting="unsafe")
        return out
