"""Five-point similarity alignment to one canonical face template.

The same :class:`Aligner` is used by the runtime, by training data preparation and by export
checks, so the crops a student was trained on are exactly the crops it sees live.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.errors import SettingError
from livefilter.types import Face

# ArcFace 112x112 five-point template (insightface), normalised to the unit square.
_ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
) / 112.0


def canonical_template(size: int, padding: float = 0.25) -> np.ndarray:
    """The five template points for a ``size`` crop.

    ``padding`` widens the ArcFace crop on every side by that fraction of the face, so the crop holds
    the whole face (forehead, chin, cheeks) plus a margin for the feathered mask.
    """
    if size < 16:
        raise SettingError(f"crop size must be at least 16 px, got {size}")
    if not 0.0 <= padding <= 1.0:
        raise SettingError(f"alignment padding must be in [0, 1], got {padding}")
    centred = (_ARCFACE_112 - 0.5) / (1.0 + 2.0 * padding) + 0.5
    # ArcFace's template sits slightly low in its crop; lift it so forehead and chin are balanced.
    centred[:, 1] -= 0.04 * (1.0 - 1.0 / (1.0 + 2.0 * padding))
    return (centred * size).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst.

    Umeyama's closed form: exact for five points, no RANSAC, deterministic. Returns a 2x3 matrix.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / max(var_s, 1e-12)
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix, or of each of a stack of them (..., 2, 3), in float64.

    The one affine inverse of the project (host and device geometry alike).
    """
    m = np.asarray(m, dtype=np.float64)
    inv = np.empty_like(m)
    inv[..., :2] = np.linalg.inv(m[..., :2])
    inv[..., 2] = -np.einsum("...ij,...j->...i", inv[..., :2], m[..., 2])
    return inv


@dataclass
class Aligner:
    """Warps faces to ``size`` x ``size`` crops and back."""

    size: int = 256
    padding: float = 0.25

    def __post_init__(self) -> None:
        self.template = canonical_template(self.size, self.padding)

    def transform(self, keypoints: np.ndarray) -> np.ndarray:
        """2x3 frame->crop matrix for one face's five keypoints."""
        return similarity_transform(keypoints, self.template)

    def transforms(self, faces: list[Face]) -> np.ndarray:
        """(N, 2, 3) frame->crop matrices."""
        out = np.empty((len(faces), 2, 3), dtype=np.float64)
        for i, f in enumerate(faces):
            out[i] = self.transform(f.keypoints)
        return out

    def warp(self, image: np.ndarray, matrices: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Aligned crops (N, S, S, 3) uint8; writes into ``out`` when given (no allocation)."""
        n = len(matrices)
        if out is None:
            out = np.empty((n, self.size, self.size, 3), dtype=np.uint8)
        for i in range(n):  # one cv2 call per face; pixels are never looped in Python
            cv2.warpAffine(
                image,
                matrices[i],
                (self.size, self.size),
                dst=out[i],
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT101,
            )
        return out

    def crop(self, image: np.ndarray, face: Face) -> np.ndarray:
        """One aligned crop (S, S, 3) uint8."""
        return self.warp(image, self.transform(face.keypoints)[None])[0]
