"""Building blocks shared by teacher and student."""

from __future__ import annotations

import torch
from torch import nn


class FiLM(nn.Module):
    """Feature-wise modulation from a style vector: x * (1 + gamma) + beta (zero-initialised)."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(style_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(style).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (1.0 + gamma) + beta


class AdaIN(nn.Module):
    """Instance norm whose scale/shift come from the style vector (teacher decoder)."""

    def __init__(self, style_dim: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.film = FiLM(style_dim, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.film(self.norm(x), style)


class ResBlockAdaIN(nn.Module):
    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.n1 = AdaIN(style_dim, channels)
        self.c2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect")
        self.n2 = AdaIN(style_dim, channels)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = self.act(self.n1(self.c1(x), style))
        return x + self.n2(self.c2(h), style)


class DSConv(nn.Module):
    """Depthwise-separable conv: 3x3 depthwise + 1x1 pointwise (the student's workhorse)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1)
        self.act = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.pw(self.dw(x)))
