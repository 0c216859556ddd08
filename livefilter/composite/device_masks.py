"""Face-oval masks rendered on the device, for every face in one batched computation.

The host :class:`livefilter.composite.masks.LandmarkMasker` fills the convex hull of the face-oval landmarks
and feathers it inwards (distance transform / feather width, clipped to 1). Inside a convex polygon
the distance to the boundary is the smallest distance to its edges' lines, so on the device the
mask is a few broadcast tensor ops over an (S, S) grid, with no loop over faces:

1. the hull's edges are found for all faces at once: a directed pair of oval points (i, j) is a
   hull edge when every oval point lies on its left (inner) side (the FaceMesh oval is *not*
   convex: jaw and temple landmarks dip inwards, and their edges would cut the mask);
2. the hull edges are gathered into a fixed number of slots (spare slots repeat a hull edge, which
   changes nothing under a minimum);
3. the signed distance of every pixel to each slot's line is taken and the minimum kept.

A stylised look's head mask (``reach`` > 1) scales the oval about its centre first and fades out at the
crop's border, as the host's does.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from livefilter.composite.masks import FACE_FEATHER, crop_border
from livefilter.detect.topology import FACE_OVAL

# More slots than oval points: points lying on one hull line give extra (overlapping) hull edges.
_HULL_SLOTS = len(FACE_OVAL) + 12
_SIDE_TOLERANCE_PX = 1e-2  # a point this close to a line counts as on it (collinear landmarks)
_MIN_EDGE_PX = 1e-3  # coincident landmarks make no edge


@lru_cache(maxsize=8)
def _pairs(n: int, device: str):
    """Index tensors of every directed pair (i, j), i != j, of n points (built once per device)."""
    import torch

    i, j = np.nonzero(~np.eye(n, dtype=bool))
    return torch.as_tensor(i, device=device), torch.as_tensor(j, device=device)


@lru_cache(maxsize=8)
def _pixel_grid(size: int, device: str):
    """(1, 1, S*S, 2) pixel centres (x, y) of the crop, built once per size and device."""
    import torch

    ys, xs = torch.meshgrid(torch.arange(size, device=device, dtype=torch.float32),
                            torch.arange(size, device=device, dtype=torch.float32), indexing="ij")
    return torch.stack([xs, ys], -1).reshape(1, 1, -1, 2)


@lru_cache(maxsize=8)
def _border(size: int, device: str):
    """(1, 1, S, S) the crop-border ramp of :func:`livefilter.composite.masks.crop_border`, once per size and device."""
    import torch

    return torch.as_tensor(crop_border(size), device=device)[None, None]


def hull_edges(pts):
    """Convex-hull edges of (N, E, 2) point sets as (origin (N, K, 2), inward unit normal (N, K, 2),
    has_hull (N,)), K = a fixed slot count; faces whose points are all coincident have no hull."""
    import torch

    n_pts = pts.shape[1]
    i, j = _pairs(n_pts, str(pts.device))
    a, b = pts[:, i], pts[:, j]  # N,Q,2
    edge = b - a
    length = edge.norm(dim=-1)  # N,Q
    normal = torch.stack([-edge[..., 1], edge[..., 0]], -1) / length.clamp_min(_MIN_EDGE_PX).unsqueeze(-1)
    # side of every point to every directed pair's line: N,Q,E
    side = ((pts.unsqueeze(1) - a.unsqueeze(2)) * normal.unsqueeze(2)).sum(-1)
    is_hull = (side >= -_SIDE_TOLERANCE_PX).all(-1) & (length > _MIN_EDGE_PX)  # N,Q
    # hull edges first (a stable sort keeps their order); spare slots repeat the first hull edge
    order = torch.argsort((~is_hull).to(torch.uint8), dim=1, stable=True)[:, :_HULL_SLOTS]
    keep = is_hull.gather(1, order)
    order = torch.where(keep, order, order[:, :1])
    idx = order.unsqueeze(-1).expand(-1, -1, 2)
    return a.gather(1, idx), normal.gather(1, idx), is_hull.any(1)


def face_masks(crop_points: np.ndarray, size: int, feather: float = FACE_FEATHER, device: str = "cuda", dtype=None,
               reach: float = 1.0):
    """(N, 1, S, S) feathered face (``reach`` > 1: head) masks from (N, 468, 2) host landmarks already in crop
    coordinates."""
    import torch

    pts = torch.as_tensor(np.asarray(crop_points, np.float32)[:, list(FACE_OVAL)], device=device)  # N,E,2
    return oval_masks(pts, size, feather, dtype, reach)


def oval_masks(pts, size: int, feather: float = FACE_FEATHER, dtype=None, reach: float = 1.0):
    """(N, 1, S, S) feathered face masks from the (N, E, 2) face-oval points, a float32 tensor on
    the device (the pipeline stages them there without a host wait); ``reach`` > 1: the head's masks."""
    import torch

    dtype = dtype or torch.float32
    if reach != 1.0:
        centre = pts.mean(1, keepdim=True)
        pts = centre + reach * (pts - centre)
    origin, normal, has_hull = hull_edges(pts)
    grid = _pixel_grid(size, str(pts.device))  # 1,1,P,2
    signed = ((grid - origin.unsqueeze(2)) * normal.unsqueeze(2)).sum(-1)  # N,K,P: >0 inside each edge
    dist = signed.min(dim=1).values * has_hull.unsqueeze(1)  # N,P; no hull: no mask
    mask = (dist / max(1.0, feather * size)).clamp(0, 1).reshape(-1, 1, size, size)
    if reach != 1.0:
        mask = mask * _border(size, str(pts.device))
    return mask.to(dtype)
