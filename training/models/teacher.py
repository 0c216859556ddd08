"""Teacher: conditional multi-look ResNet encoder-decoder; the look modulates the decoder (AdaIN)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.models.layers import AdaIN, ResBlockAdaIN


@dataclass
class TeacherConfig:
    base: int = 32
    res_blocks: int = 4
    style_dim: int = 16
    num_looks: int = 2  # look 0 is "no look"; looks 1..num_looks are learned


class Teacher(nn.Module):
    """out = clamp(x + residual(x, style)); style 0 ("no look") is trained to return the input."""

    def __init__(self, cfg: TeacherConfig) -> None:
        super().__init__()
        self.cfg = cfg
        b, sd = cfg.base, cfg.style_dim
        self.looks = nn.Embedding(cfg.num_looks + 1, sd)
        with torch.no_grad():
            self.looks.weight[0].zero_()
        act = nn.LeakyReLU(0.2)
        self.enc = nn.Sequential(
            nn.Conv2d(3, b, 7, padding=3, padding_mode="reflect"), nn.InstanceNorm2d(b, affine=True), act,
            nn.Conv2d(b, 2 * b, 4, 2, 1), nn.InstanceNorm2d(2 * b, affine=True), act,
            nn.Conv2d(2 * b, 4 * b, 4, 2, 1), nn.InstanceNorm2d(4 * b, affine=True), act,
        )
        self.res = nn.ModuleList(ResBlockAdaIN(4 * b, sd) for _ in range(cfg.res_blocks))
        self.up1 = nn.Conv2d(4 * b, 2 * b, 3, padding=1)
        self.n1 = AdaIN(sd, 2 * b)
        self.up2 = nn.Conv2d(2 * b, b, 3, padding=1)
        self.n2 = AdaIN(sd, b)
        self.head = nn.Conv2d(b, 3, 7, padding=3, padding_mode="reflect")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.act = act

    def style_of(self, look: torch.Tensor) -> torch.Tensor:
        return self.looks(look)

    def forward(self, x: torch.Tensor, style: torch.Tensor, return_features: bool = False):
        feats = []
        h = self.enc(x)
        for blk in self.res:
            h = blk(h, style)
        feats.append(h)
        h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
        h = self.act(self.n1(self.up1(h), style))
        feats.append(h)
        h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
        h = self.act(self.n2(self.up2(h), style))
        feats.append(h)
        out = torch.clamp(x + self.head(h), -1.0, 1.0)
        return (out, feats) if return_features else out


class StyleEncoder(nn.Module):
    """Maps reference photos to a style vector, so a look can be made from a handful of pictures."""

    def __init__(self, style_dim: int = 16, base: int = 32) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.2)
        self.net = nn.Sequential(
            nn.Conv2d(3, base, 4, 2, 1), act,
            nn.Conv2d(base, 2 * base, 4, 2, 1), act,
            nn.Conv2d(2 * base, 4 * base, 4, 2, 1), act,
            nn.Conv2d(4 * base, 4 * base, 4, 2, 1), act,
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * base, style_dim),
        )

    def forward(self, refs: torch.Tensor) -> torch.Tensor:
        """(R, 3, S, S) references -> (style_dim,) mean style."""
        return self.net(refs).mean(0)
