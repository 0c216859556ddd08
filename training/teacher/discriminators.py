"""Region discriminators: lips, eyes, cheeks and the whole face, each a spectral-norm PatchGAN.

Region crops are cut from landmarks with an affine ``grid_sample`` (differentiable, any crop size), so
the generator is judged on the texture of each region against the same region of real makeup
photographs: lip sheen and edges, the shadow gradient from lash line to crease, liner shape, blush
falloff. The right eye and cheek are mirrored onto the left, so one discriminator sees both. A separate
whole-face discriminator (``style``) judges stylised looks against the artistic references.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from livefilter.detect.topology import BROW_LOWER, CHEEK_APPLE, LIPS, UPPER_LID

# (name, crop height, crop width) per box; boxes 1/2 and 3/4 are the two eyes / cheeks
BOXES = ("lips", "eye_l", "eye_r", "cheek_l", "cheek_r")
CROP = {"lips": (32, 48), "eyes": (32, 48), "cheeks": (32, 32), "face": (64, 64), "style": (64, 64)}
HEADS = ("lips", "eyes", "cheeks", "face", "style")


def region_boxes(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(N, 468, 2) crop-pixel landmarks -> (N, 5, 4) boxes (cx, cy, half-w, half-h) in grid units [-1, 1]."""
    pts = (np.asarray(landmarks, np.float32)[..., :2] + 0.5) / size * 2 - 1
    out = np.zeros((len(pts), len(BOXES), 4), np.float32)
    lips = pts[:, list(LIPS)]
    lw = lips[..., 0].max(1) - lips[..., 0].min(1)
    out[:, 0] = np.stack([lips[..., 0].mean(1), lips[..., 1].mean(1), 0.75 * lw, 0.5 * lw], 1)
    face_w = np.linalg.norm(pts[:, 234] - pts[:, 454], axis=1)
    for side in (0, 1):
        lid, brow = pts[:, list(UPPER_LID[side])], pts[:, list(BROW_LOWER[side])]
        ew = np.linalg.norm(lid[:, 0] - lid[:, -1], axis=1)
        c = 0.75 * lid.mean(1) + 0.25 * brow.mean(1)  # the lid and crease, with the lash line in view
        out[:, 1 + side] = np.stack([c[:, 0], c[:, 1], 0.85 * ew, 0.57 * ew], 1)
        ch = pts[:, list(CHEEK_APPLE[side])].mean(1)
        out[:, 3 + side] = np.stack([ch[:, 0], ch[:, 1], 0.16 * face_w, 0.16 * face_w], 1)
    return out


def crop(img: torch.Tensor, boxes: torch.Tensor, hw: tuple[int, int], mirror: bool = False) -> torch.Tensor:
    """(B, 3, H, W) images, (B, 4) boxes -> (B, 3, h, w) crops (mirrored left-right if asked)."""
    n = len(img)
    theta = torch.zeros(n, 2, 3, dtype=img.dtype, device=img.device)
    theta[:, 0, 0] = boxes[:, 2] * (-1.0 if mirror else 1.0)
    theta[:, 0, 2] = boxes[:, 0]
    theta[:, 1, 1] = boxes[:, 3]
    theta[:, 1, 2] = boxes[:, 1]
    grid = F.affine_grid(theta, [n, 3, *hw], align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


def region_crops(img: torch.Tensor, boxes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every region crop of a batch: lips (B), eyes (2B: left, mirrored right), cheeks (2B), face (B)."""
    return {
        "lips": crop(img, boxes[:, 0], CROP["lips"]),
        "eyes": torch.cat([crop(img, boxes[:, 1], CROP["eyes"]), crop(img, boxes[:, 2], CROP["eyes"], True)]),
        "cheeks": torch.cat([crop(img, boxes[:, 3], CROP["cheeks"]), crop(img, boxes[:, 4], CROP["cheeks"], True)]),
        "face": F.interpolate(img, size=CROP["face"], mode="area"),
    }


class PatchD(nn.Module):
    def __init__(self, base: int = 32, layers: int = 3) -> None:
        super().__init__()
        seq, c = [], 3
        for i in range(layers):
            out = base * 2 ** i
            seq += [spectral_norm(nn.Conv2d(c, out, 4, 2 if i < layers - 1 else 1, 1)), nn.LeakyReLU(0.2)]
            c = out
        seq.append(spectral_norm(nn.Conv2d(c, 1, 3, 1, 1)))
        self.net = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class RegionDiscriminators(nn.Module):
    def __init__(self, base: int = 32) -> None:
        super().__init__()
        self.d = nn.ModuleDict({h: PatchD(base) for h in HEADS})

    def forward(self, head: str, x: torch.Tensor) -> torch.Tensor:
        return self.d[head](x)
