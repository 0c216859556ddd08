"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) applied to real and fake alike.

With only a handful of reference photos the discriminator memorises them; augmenting both real
and generated images with the same differentiable transforms keeps it honest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def colour(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5) * 0.5
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sx, sy = int(w * ratio + 0.5), int(h * ratio + 0.5)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx.unsqueeze(0) + tx + 1, 0, w + 1)
    gy = torch.clamp(gy.unsqueeze(0) + ty + 1, 0, h + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    idx = (gy * (w + 2) + gx).view(n, 1, -1).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio / 2 + 0.5), int(w * ratio / 2 + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    inside = ((gy.unsqueeze(0) - cy).abs() < ch // 2 + 1) & ((gx.unsqueeze(0) - cx).abs() < cw // 2 + 1)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor, policy: str = "colour,translation,cutout") -> torch.Tensor:
    for name in filter(None, (p.strip() for p in policy.split(","))):
        x = {"colour": colour, "color": colour, "translation": translation, "cutout": cutout}[name](x)
    return x
