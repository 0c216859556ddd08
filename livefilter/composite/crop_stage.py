"""The styling chain in crop space, as one CUDA graph per face count.

Between the translator and the inverse warp every tensor has a fixed shape per face count N:
colour edits, the face-oval masks, the occluder cut-outs, the faces without dense landmarks, the makeup
placement's crop step (:class:`livefilter.composite.device_placement.DeviceCropPlacement`: lip layer, skin fills,
mirrored lids and cheeks) and the premultiplied main and lip layers, ~100 small kernels eagerly. Their inputs are
static buffers (the crops, the stylised crops) and the fixed slots of :class:`FrameParams`, so
:class:`CropStage` captures them once per N during the warm-up and replays one graph per frame.
The warp into crop space (its size depends on the frame) and the inverse warp (its size is the
faces' rectangle, which changes every frame) stay eager. On the CPU the same chain runs eagerly.
"""

from __future__ import annotations

import numpy as np

from livefilter.gpu.graphs import GraphSet
from livefilter.composite.device_masks import oval_masks
from livefilter.gpu.staging import FrameParams
from livefilter.composite.device_placement import DeviceCropPlacement
from livefilter.detect.topology import FACE_OVAL, LIPS, LIPS_INNER
from livefilter.composite.placement import EYE_POLYGONS, MAP_COUNT, PlacementSpec

EDIT_SLOTS = 4  # contrast, brightness, warmth, saturation


GATE_POINTS = len(LIPS) + len(LIPS_INNER) + sum(len(p) for p in EYE_POLYGONS)  # frame-step polygons per face


def frame_param_slots(max_faces: int, size: int, style_dims: int) -> dict:
    """The per-frame parameters of the device styling stages (FP32 geometry; occluders and the placement's
    region maps as bytes, in one slot copied only as far as the frame's faces need)."""
    f = max_faces
    return {
        "mirror_theta": ((f, 4, 2, 3), np.float32),  # lids from side 1, from side 0; cheeks likewise
        "mirror_on": ((f, 2), np.float32),  # 1: that region pair is mirrored this frame
        "gate_pts": ((f, GATE_POINTS, 2), np.float32),  # outer lips, inner lips, eyes: faces' rectangle pixels
        "lip_theta": ((f, 2, 3), np.float32),  # mouth box -> crop sampling (the lip layer)
        "warp_theta": ((f, 2, 3), np.float32),  # crop -> frame sampling, normalised (affine_grid)
        "back_theta": ((f, 2, 3), np.float32),  # faces' rectangle -> crop sampling
        "oval": ((f, len(FACE_OVAL), 2), np.float32),  # face-oval landmarks in crop pixels
        "strength": ((f,), np.float32),
        "alpha": ((f,), np.float32),
        "have": ((f,), np.float32),  # 1: dense landmarks (oval mask), 0: the template ellipse
        "style": ((max(style_dims, 1),), np.float32),  # the look's code (one for every face)
        "edits": ((EDIT_SLOTS,), np.float32),
        "pixels": ((f, 1 + MAP_COUNT, size, size), np.uint8),  # occluders (0/1), then the maps (0..255)
    }


class CropStage:
    """Static crop-space buffers and the graphed chain for one look (crop size, masks, feather)."""

    def __init__(self, size: int, template_mask: np.ndarray, feather_px: float, max_faces: int, device,
                 style_dims: int, graphs: bool, capture_fn=None, name: str = "styling",
                 placement: PlacementSpec | None = None, tight_ratio: float = 1.0, reach: float = 1.0) -> None:
        """``placement``: the look's makeup placement (None: the whole residual under the face mask);
        ``reach``: the mask's reach beyond the face oval (a stylised look's head, :class:`LandmarkMasker`)."""
        import torch

        self.size, self.max_faces = size, max_faces
        self.device = torch.device(device)
        f32 = torch.float32
        self.params = FrameParams(self.device, frame_param_slots(max_faces, size, style_dims), last="pixels")
        self.crops = torch.zeros((max_faces, 3, size, size), dtype=f32, device=self.device)
        self.styled = torch.zeros((max_faces, 3, size, size), dtype=f32, device=self.device)
        self.delta = torch.zeros((max_faces, 3, size, size), dtype=f32, device=self.device)
        self.lips = torch.zeros((max_faces, 3, size, size), dtype=f32, device=self.device)
        self.placement = (DeviceCropPlacement(size, placement, tight_ratio, self.device)
                          if placement is not None else None)
        self.mask = torch.from_numpy(np.ascontiguousarray(template_mask, np.float32)).to(self.device)[None, None]
        self._warm = torch.tensor([20.0, 0.0, -20.0], device=self.device, dtype=f32).view(1, 3, 1, 1)
        self.feather = feather_px / size
        self.reach = float(reach)
        self.occluder_kernel = max(3, int(feather_px) | 1)  # soft edge around an occluder
        self.graphs = GraphSet(name, self._chain, max_faces, self.device, graphs, capture_fn)

    def _edit(self, x):
        """Brightness / contrast / warmth / saturation (the CPU LUT's maths), identity at zeros."""
        e = self.params.dev["edits"]
        contrast, brightness, warmth, saturation = e[0], e[1], e[2], e[3]
        x = (x - 128.0) * (1.0 + contrast) + 128.0 + 64.0 * brightness
        x = (x + self._warm * warmth).clamp(0, 255).round()
        grey = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        return (x * (1.0 + saturation) - grey * saturation).clamp(0, 255)

    def _chain(self, n: int):
        import torch
        import torch.nn.functional as F

        p = self.params.dev
        styled = self._edit(self.styled[:n])
        m = oval_masks(p["oval"][:n], self.size, self.feather, reach=self.reach)
        pixels = p["pixels"][:n].to(torch.float32)
        if self.reach == 1.0:  # the head's mask (an illustration) keeps what is in front of the face: no cut-out
            occ = pixels[:, :1]
            k = self.occluder_kernel
            occ = F.avg_pool2d(F.max_pool2d(occ, 3, 1, 1), k, 1, k // 2, count_include_pad=False)
            m = m * (1.0 - occ.clamp(0, 1))
        have = p["have"][:n].view(-1, 1, 1, 1) > 0.5
        raw = styled - self.crops[:n]
        alpha = p["alpha"][:n]
        template = raw * self.mask * alpha.view(-1, 1, 1, 1)  # faces without landmarks: the template ellipse
        if self.placement is None:
            main, lips = torch.where(have, raw * m * alpha.view(-1, 1, 1, 1), template), None
        else:
            main, lips = self.placement.layers(raw, m, alpha, pixels[:, 1:] * (1.0 / 255.0), p["mirror_theta"][:n],
                                               p["mirror_on"][:n])
            main = torch.where(have, main, template)
            lips = torch.where(have, lips, torch.zeros_like(lips))
        self.delta[:n].copy_(main)
        if lips is not None:
            self.lips[:n].copy_(lips)
        return self.delta[:n], self.lips[:n]

    def warm_up(self) -> None:
        import torch

        with torch.no_grad():
            self.graphs.warm_up()

    def run(self, styled, n: int):
        """The premultiplied main and lip layers, (N, 3, S, S) each, of the stylised crops ``styled`` (views
        of ``delta`` and ``lips``; the lip layer is zero without a placement)."""
        import torch

        with torch.no_grad():
            self.styled[:n].copy_(styled)
            return self.graphs(n)
