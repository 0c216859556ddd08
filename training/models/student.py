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
    # the code also modulates the full-resolution decoder level (a lid or a lip line is a few pixels wide).
    # Off for packs trained before it. What it changes is measured in training/teacher/LIDS.md section 12.
    fine_film: bool = False
    # a small mapping network on the code (added to it, starting at zero): FiLM is linear in its input, and a
    # look's effect is a product of fields (opacity x colour). 0 = none (packs trained before it)
    map_hidden: int = 0


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
        # registered last, so a checkpoint without them keeps its parameters' order (see optional_layers)
        self.f1 = FiLM(cfg.style_dim, b) if cfg.fine_film else None
        self.mapping = None
        if cfg.map_hidden:
            self.mapping = nn.Sequential(nn.Linear(cfg.style_dim, cfg.map_hidden), nn.LeakyReLU(0.2),
                                         nn.Linear(cfg.map_hidden, cfg.style_dim))
            nn.init.zeros_(self.mapping[2].weight)
            nn.init.zeros_(self.mapping[2].bias)

    def optional_layers(self) -> dict[str, nn.Linear]:
        """The layers this student may have beyond an older checkpoint's: parameter prefix -> the linear layer
        whose zeros make them leave the output unchanged."""
        layers = {"f1.": self.f1.proj if self.f1 is not None else None,
                  "mapping.": self.mapping[2] if self.mapping is not None else None}
        return {k: v for k, v in layers.items() if v is not None}

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")

    def forward(self, image: torch.Tensor, style: torch.Tensor, strength: torch.Tensor, return_features: bool = False):
        if self.mapping is not None:
            style = style + self.mapping(style)
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
        if self.f1 is not None:
            h = self.f1(h, style)
        residual = self.head(h)
        out = torch.clamp(image + strength.view(-1, 1, 1, 1) * residual, -1.0, 1.0)
        return (out, [f_mid, f_up3, f_up2]) if return_features else out
