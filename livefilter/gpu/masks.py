"""Face-oval masks rendered on the device, for every face in one batched computation.

For a point inside a convex polygon the distance to the boundary is the smallest distance to the
edges' lines, so the inward-feathered mask of :class:`livefilter.masks.LandmarkMasker` (distance
transform / feather width, clipped to 1) becomes a few broadcast tensor ops over an (S, S) grid.
"""

from __future__ import annotations

import numpy as np

from livefilter.masks import FACE_OVAL


def face_masks(crop_points: np.ndarray, size: int, feather: float = 0.12, device: str = "cuda", dtype=None):
    """(N, 1, S, S) masks from (N, 468, 2) landmarks already in crop coordinates."""
    import torch

    dtype = dtype or torch.float32
    pts = torch.as_tensor(np.asarray(crop_points, np.float32)[:, list(FACE_OVAL)], device=device)  # N,E,2
    a, b = pts, torch.roll(pts, -1, dims=1)
    edge = b - a
    normal = torch.stack([edge[..., 1], -edge[..., 0]], -1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    # orient normals inwards (towards the polygon's centroid)
    centre = pts.mean(1, keepdim=True)
    flip = ((centre - a) * normal).sum(-1, keepdim=True) < 0
    normal = torch.where(flip, -normal, normal)
    ys, xs = torch.meshgrid(torch.arange(size, device=device, dtype=torch.float32),
                            torch.arange(size, device=device, dtype=torch.float32), indexing="ij")
    grid = torch.stack([xs, ys], -1).reshape(1, 1, -1, 2)  # 1,1,P,2
    signed = ((grid - a.unsqueeze(2)) * normal.unsqueeze(2)).sum(-1)  # N,E,P: >0 inside each edge
    dist = signed.min(dim=1).values  # N,P
    mask = (dist / max(1.0, feather * size)).clamp(0, 1)
    return mask.reshape(-1, 1, size, size).to(dtype)
