"""Student: the runtime generator. Small depthwise-separable encoder-decoder conditioned on the look.

One network serves every look (the look code is an input) and strength interpolates inside it:
out = x + strength * residual, so strength 0 returns the input exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.models.layers import DSConv, FiLM


@dataclass
class StudentConfig:
    base: int = 16
    style_dim: int = 16
    mid_blocks: int = 2


class Student(nn.Module):
    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        b = cfg.base
        self.stem = nn.Sequential(nn.Conv2d(3, b, 3, padding=1), nn.ReLU6())
        self.d1 = DSConv(b, 2 * b, stride=2)
        self.d2 = DSConv(2 * b, 4 * b, stride=2)
        self.d3 = DSConv(4 * b, 4 * b, stride=2)
        self.mid = nn.ModuleList(DSConv(4 * b, 4 * b) for _ in range(cfg.mid_blocks))
        self.films = nn.ModuleList(FiLM(cfg.style_dim, 4 * b) for _ in range(cfg.mid_blocks))
        self.u3 = DSConv(8 * b, 4 * b)
        self.f3 = FiLM(cfg.style_dim, 4 * b)
        self.u2 = DSConv(6 * b, 2 * b)
        self.f2 = FiLM(cfg.style_dim, 2 * b)
        self.u1 = DSConv(3 * b, b)
        self.head = nn.Conv2d(b, 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")

    def forward(self, image: torch.Tensor, style: torch.Tensor, strength: torch.Tensor, return_features: bool = False):
        s0 = self.stem(image)
        s1 = self.d1(s0)
        s2 = self.d2(s1)
        h = self.d3(s2)
        for blk, film in zip(self.mid, self.films):
            h = film(blk(h), style) + h
        f_mid = h
        h = self.f3(self.u3(torch.cat([self._up(h), s2], 1)), style)
        f_up3 = h
        h = self.f2(self.u2(torch.cat([self._up(h), s1], 1)), style)
        f_up2 = h
        h = self.u1(torch.cat([self._up(h), s0], 1))
        residual = self.head(h)
        out = torch.clamp(image + strength.view(-1, 1, 1, 1) * residual, -1.0, 1.0)
        return (out, [f_mid, f_up3, f_up2]) if return_features else out
