"""Multi-scale PatchGAN with one output head per domain (plain + each look)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm


class PatchD(nn.Module):
    def __init__(self, heads: int, base: int = 32, layers: int = 3) -> None:
        super().__init__()
        seq, c = [], 3
        for i in range(layers):
            out = base * 2**i
            seq += [spectral_norm(nn.Conv2d(c, out, 4, 2 if i < layers - 1 else 1, 1)), nn.LeakyReLU(0.2)]
            c = out
        self.body = nn.ModuleList(seq)
        self.out = spectral_norm(nn.Conv2d(c, heads, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for layer in self.body:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return self.out(x), feats


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, heads: int, scales: int = 2, base: int = 32) -> None:
        super().__init__()
        self.ds = nn.ModuleList(PatchD(heads, base) for _ in range(scales))

    def forward(self, x: torch.Tensor, domain: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-scale patch logits for each sample's own domain head, and all intermediate features."""
        logits, feats = [], []
        for i, d in enumerate(self.ds):
            if i:
                x = nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            out, f = d(x)
            idx = domain.view(-1, 1, 1, 1).expand(-1, 1, out.shape[2], out.shape[3])
            logits.append(out.gather(1, idx))
            feats += f
        return logits, feats
