"""The aligner's device twin: the crop warp and its inverse as batched ``grid_sample`` geometry.

The host :class:`~livefilter.align.host.Aligner` warps crops with OpenCV; here the same 2x3 frame->crop
matrices become ``affine_grid`` thetas, so every face of a frame is warped by one call on the device.
"""

from __future__ import annotations

import numpy as np

from livefilter.align.host import invert_affine


def affine_to_theta(m: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int],
                    align_corners: bool = False) -> np.ndarray:
    """Convert pixel-space 2x3 matrices (dst->src sampling) into ``affine_grid``'s normalised thetas.

    ``m`` maps *destination* pixel centres to *source* pixel coordinates (what grid_sample needs).
    With align_corners=False pixel x maps to normalised (2x + 1) / W - 1 (the image's edges are
    at -1 and 1); with align_corners=True to 2x / (W - 1) - 1 (the outer pixel centres are),
    which is what makes ``padding_mode="reflection"`` reflect about the outer pixels, OpenCV's
    BORDER_REFLECT_101. Computed in float64, returned as float32.
    """
    (sh, sw), (dh, dw) = src_hw, dst_hw
    n = len(m)
    if align_corners:
        # dst normalised -> dst pixel; src pixel -> src normalised (a 1-pixel side maps to 0)
        a = np.array([[(dw - 1) / 2, 0, (dw - 1) / 2], [0, (dh - 1) / 2, (dh - 1) / 2], [0, 0, 1]], np.float64)
        b = np.array([[2 / max(sw - 1, 1), 0, -1], [0, 2 / max(sh - 1, 1), -1], [0, 0, 1]], np.float64)
    else:
        a = np.array([[dw / 2, 0, dw / 2 - 0.5], [0, dh / 2, dh / 2 - 0.5], [0, 0, 1]], np.float64)
        b = np.array([[2 / sw, 0, 1 / sw - 1], [0, 2 / sh, 1 / sh - 1], [0, 0, 1]], np.float64)
    full = np.concatenate([m, np.tile([[[0, 0, 1]]], (n, 1, 1))], axis=1)
    return (b @ full @ a)[:, :2].astype(np.float32)


def warp_thetas(matrices: np.ndarray, frame_hw: tuple[int, int], size: int) -> np.ndarray:
    """Thetas of the aligned-crop warp (frame->crop ``matrices``), for :func:`warp_crops`."""
    return affine_to_theta(invert_affine(matrices), frame_hw, (size, size), align_corners=True)


def warp_crops(frame_f, theta, size: int, out=None):
    """Aligned crops (N, 3, S, S) of ``frame_f`` (1, 3, H, W): bilinear, reflected about the outer
    pixels at the frame's borders (OpenCV's BORDER_REFLECT_101, as the CPU path's warpAffine)."""
    import torch.nn.functional as F

    n = theta.shape[0]
    grid = F.affine_grid(theta, (n, 3, size, size), align_corners=True)
    crops = F.grid_sample(frame_f.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="reflection",
                          align_corners=True)
    if out is None:
        return crops
    out.copy_(crops)
    return out


def back_thetas(matrices: np.ndarray, region: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Thetas of the inverse warp of every face's crop into the faces' rectangle ``region``."""
    y0, x0, h, w = region
    # frame pixel (x0 + u, y0 + v) is region pixel (u, v): shift the frame->crop maps
    shifted = np.array(matrices, np.float64, copy=True)
    shifted[:, :, 2] += shifted[:, :, :2] @ np.array([x0, y0], np.float64)
    return affine_to_theta(shifted, (size, size), (max(h, 1), max(w, 1)))


def faces_region(matrices: np.ndarray, size: int, height: int, width: int, margin: int = 2) -> tuple[int, int, int, int]:
    """(y0, x0, h, w): the smallest frame rectangle holding every face's crop square.

    ``matrices`` map frame pixels to crop pixels; the crop square's corners (pixel edges at -0.5
    and S - 0.5) go back through their inverses. ``margin`` covers the bilinear footprint, so the
    inverse warp is exactly zero outside. Empty (h or w 0) when no face touches the frame.
    """
    inv = invert_affine(matrices)  # crop -> frame
    c = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
    pts = np.einsum("nij,kj->nki", inv[:, :, :2], c) + inv[:, None, :, 2]  # N,4,2 frame (x, y)
    x0 = int(np.clip(np.floor(pts[..., 0].min()) - margin, 0, width))
    y0 = int(np.clip(np.floor(pts[..., 1].min()) - margin, 0, height))
    x1 = int(np.clip(np.ceil(pts[..., 0].max()) + margin + 1, 0, width))
    y1 = int(np.clip(np.ceil(pts[..., 1].max()) + margin + 1, 0, height))
    return y0, x0, max(0, y1 - y0), max(0, x1 - x0)
