"""The teacher generator and its reference-set encoder.

``TeacherG``: a U-Net (1/2, 1/4, 1/8) with residual blocks at 1/8 resolution. A condition vector from an
MLP over [look code, reference-set embedding, has-references flag] modulates the bottleneck and every
decoder level (FiLM); the output is the input plus a residual, so the empty look is the identity.

``RefEncoder``: a per-photo CNN whose features are pooled inside the photo's own region masks (lips,
eye shadow, blush, skin, brows) and then mean-pooled over the set (DeepSets), so any number of photos
gives one embedding and the order of the photos does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from livefilter.composite.regions import REGION_NAMES
from livefilter.looks.code import CODE_DIM
from training.models.layers import FiLM

POOL_REGIONS = ("lips", "eyeshadow", "blush", "skin", "brows")
_POOL_IDX = [REGION_NAMES.index(r) for r in POOL_REGIONS]


@dataclass
class TeacherConfig:
    base: int = 32
    mid_blocks: int = 4
    cond_dim: int = 256
    ref_dim: int = 64
    ref_base: int = 32


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.LeakyReLU(0.2))


class ModResBlock(nn.Module):
    def __init__(self, ch: int, cond_dim: int) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(ch, ch, 3, 1, 1), nn.Conv2d(ch, ch, 3, 1, 1)
        self.n1, self.n2 = nn.GroupNorm(8, ch, affine=False), nn.GroupNorm(8, ch, affine=False)
        self.f1, self.f2 = FiLM(cond_dim, ch), FiLM(cond_dim, ch)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.f1(self.n1(self.c1(x)), cond), 0.2)
        return x + self.f2(self.n2(self.c2(h)), cond)


class RefEncoder(nn.Module):
    """(P, 3, S, S) photos in [-1, 1] + their soft region masks (P, R, S, S) -> (P, ref_dim) per photo.
    ``pool_set`` averages a (B, P) weight matrix of sets over them."""

    def __init__(self, cfg: TeacherConfig) -> None:
        super().__init__()
        b = cfg.ref_base
        self.net = nn.Sequential(_conv(3, b, 2), _conv(b, 2 * b, 2), _conv(2 * b, 4 * b, 2), _conv(4 * b, 4 * b))
        self.proj = nn.Sequential(nn.Linear(len(POOL_REGIONS) * (4 * b + 3), 2 * cfg.ref_dim), nn.LeakyReLU(0.2),
                                  nn.Linear(2 * cfg.ref_dim, cfg.ref_dim))

    def forward(self, photos: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        f = self.net(photos)
        m = F.adaptive_avg_pool2d(masks[:, _POOL_IDX], f.shape[-2:])
        den = m.sum((2, 3)).clamp(min=1e-3)
        feats = torch.einsum("pchw,prhw->prc", f, m) / den.unsqueeze(-1)
        # the regions' mean colour too (full resolution): the encoder starts from what a viewer sees
        mf = masks[:, _POOL_IDX]
        col = torch.einsum("pchw,prhw->prc", photos, mf) / mf.sum((2, 3)).clamp(min=1e-3).unsqueeze(-1)
        return self.proj(torch.cat([feats, col], -1).flatten(1))

    @staticmethod
    def pool_set(per_photo: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(P, D) photo embeddings, (B, P) set membership -> (B, D) set means (zeros for an empty set)."""
        w = weights / weights.sum(1, keepdim=True).clamp(min=1e-6)
        return w @ per_photo


class TeacherG(nn.Module):
    def __init__(self, cfg: TeacherConfig) -> None:
        super().__init__()
        self.cfg = cfg
        b, cd = cfg.base, cfg.cond_dim
        self.refs = RefEncoder(cfg)
        self.cond = nn.Sequential(nn.Linear(CODE_DIM + cfg.ref_dim + 1, cd), nn.LeakyReLU(0.2), nn.Linear(cd, cd),
                                  nn.LeakyReLU(0.2))
        self.stem = _conv(3, b)
        self.d1, self.d2, self.d3 = _conv(b, 2 * b, 2), _conv(2 * b, 4 * b, 2), _conv(4 * b, 8 * b, 2)
        self.mid = nn.ModuleList(ModResBlock(8 * b, cd) for _ in range(cfg.mid_blocks))
        self.u3, self.f3 = _conv(12 * b, 4 * b), FiLM(cd, 4 * b)
        self.u2, self.f2 = _conv(6 * b, 2 * b), FiLM(cd, 2 * b)
        self.u1, self.f1 = _conv(3 * b, b), FiLM(cd, b)
        self.head = nn.Conv2d(b, 3, 3, 1, 1)
        for f in (self.f3, self.f2, self.f1, *[m.f1 for m in self.mid], *[m.f2 for m in self.mid]):
            nn.init.normal_(f.proj.weight, std=0.02)  # the code steers from step 0 (see FamilyTrainer)
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def condition(self, code: torch.Tensor, ref_emb: torch.Tensor, has_refs: torch.Tensor) -> torch.Tensor:
        return self.cond(torch.cat([code, ref_emb * has_refs, has_refs], 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, return_features: bool = False):
        """x (B, 3, H, W) in [-1, 1], H and W multiples of 8; cond (B, cond_dim) from :meth:`condition`."""
        s0 = self.stem(x)
        s1 = self.d1(s0)
        s2 = self.d2(s1)
        h = self.d3(s2)
        for blk in self.mid:
            h = blk(h, cond)
        f_mid = h
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")  # noqa: E731
        h = self.f3(self.u3(torch.cat([up(h), s2], 1)), cond)
        f3 = h
        h = self.f2(self.u2(torch.cat([up(h), s1], 1)), cond)
        f2 = h
        h = self.f1(self.u1(torch.cat([up(h), s0], 1)), cond)
        out = torch.clamp(x + self.head(h), -1.0, 1.0)
        return (out, [f_mid, f3, f2]) if return_features else out
