"""GAN, reconstruction, style and identity losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def lsgan_d(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(((r - 1) ** 2).mean() + (f**2).mean() for r, f in zip(real, fake)) / len(real)


def lsgan_g(fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(((f - 1) ** 2).mean() for f in fake) / len(fake)


def hinge_d(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake)) / len(real)


def hinge_g(fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(-f.mean() for f in fake) / len(fake)


def feature_matching(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """L1 between discriminator features of real and generated images (batch means: unpaired)."""
    return sum(F.l1_loss(f.mean(0), r.detach().mean(0)) for r, f in zip(real_feats, fake_feats)) / len(real_feats)


def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def gram_loss(feats_a: list[torch.Tensor], feats_b: list[torch.Tensor]) -> torch.Tensor:
    """Mean squared Gram difference; feats_b are references, averaged over their batch."""
    return sum(F.mse_loss(gram(a), gram(b).mean(0, keepdim=True).expand(a.shape[0], -1, -1))
               for a, b in zip(feats_a, feats_b)) / len(feats_a)


def masked_colour_stats(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and std inside the mask. x (N,3,H,W), mask (N or 1,1,H,W)."""
    w = mask.expand(x.shape[0], 1, -1, -1)
    total = w.sum(dim=[2, 3]).clamp_min(1e-6)
    mean = (x * w).sum(dim=[2, 3]) / total
    var = (((x - mean[..., None, None]) ** 2) * w).sum(dim=[2, 3]) / total
    return mean, (var + 1e-6).sqrt()


def colour_stats_loss(x: torch.Tensor, mask: torch.Tensor, ref_mean: torch.Tensor, ref_std: torch.Tensor) -> torch.Tensor:
    mean, std = masked_colour_stats(x, mask)
    return F.l1_loss(mean, ref_mean.expand_as(mean)) + F.l1_loss(std, ref_std.expand_as(std))


_YCBCR = ((0.299, 0.587, 0.114), (-0.1687, -0.3313, 0.5), (0.5, -0.4187, -0.0813))


def to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] RGB -> YCbCr (Y in [0, 1], chroma centred on 0); linear, so gradients stay simple."""
    m = torch.tensor(_YCBCR, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, (x + 1) / 2)


def region_stats(x: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-region YCbCr mean/std: x (N,3,H,W), masks (N,R,H,W) -> (N,R,3) each."""
    y = to_ycbcr(x).unsqueeze(1)  # N,1,3,H,W
    w = masks.unsqueeze(2)  # N,R,1,H,W
    total = w.sum(dim=(3, 4)).clamp_min(1.0)
    mean = (y * w).sum(dim=(3, 4)) / total
    var = (((y - mean[..., None, None]) ** 2) * w).sum(dim=(3, 4)) / total
    return mean, (var + 1e-6).sqrt()


def region_colour_loss(x: torch.Tensor, masks: torch.Tensor, ref_mean: torch.Tensor, ref_std: torch.Tensor,
                       weights: torch.Tensor) -> torch.Tensor:
    """Match each region's colour statistics (skin tone, lip colour, eye shadow...) to the look's."""
    mean, std = region_stats(x, masks)
    present = (masks.sum(dim=(2, 3)) > 8).to(x.dtype).unsqueeze(-1)  # regions a face actually shows
    err = ((mean - ref_mean).abs() + 0.5 * (std - ref_std).abs()) * present
    return (err.sum(-1) * weights).sum(-1).mean()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()


def masked_l1(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return ((a - b).abs() * weight).mean()


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
VGG16_TAPS = (3, 8, 15, 22)  # relu1_2, relu2_2, relu3_3, relu4_3 in torchvision's numbering


class VGGFeatures(nn.Module):
    """VGG16 feature taps, loaded from a safetensors file with torchvision's ``features.N`` names.

    Nothing is downloaded: a user who has VGG16 weights converts them once to safetensors.
    ImageNet normalisation is applied to [-1, 1] inputs.
    """

    def __init__(self, weights: str) -> None:
        super().__init__()
        from safetensors.torch import load_file

        layers, c = [], 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
                c = v
        self.features = nn.Sequential(*layers)
        state = {k: v for k, v in load_file(weights).items() if k.startswith("features.")}
        self.load_state_dict(state, strict=True)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG16_TAPS:
                feats.append(x)
        return feats

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(F.adaptive_avg_pool2d(self.forward(x)[-1], 4).flatten(1), dim=1)


class OnnxIdentityNet(nn.Module):
    """A face-recognition network (e.g. ArcFace / insightface w600k) from its ONNX file, run through
    livefilter's ONNX->torch interpreter so gradients flow into the generator. Input 112x112."""

    def __init__(self, onnx_path: str) -> None:
        super().__init__()
        from livefilter.translate.onnx_torch import build_module

        self.net = build_module(onnx_path, trainable_inputs=True)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(112, 112), mode="bilinear", align_corners=False)  # [-1,1] as ArcFace expects
        return F.normalize(self.net(x).flatten(1), dim=1)


def feature_net(vgg_weights: str | None = None, seed: int = 1234) -> nn.Module:
    """VGG16 features when the user has the weights, otherwise the fixed random-feature CNN."""
    return VGGFeatures(vgg_weights) if vgg_weights else RandomFeatureNet(seed)


class RandomFeatureNet(nn.Module):
    """A fixed random-weight CNN (seeded). Random networks capture texture statistics well enough
    for Gram losses (Ustyuzhaninov et al. 2017); see :class:`VGGFeatures` for the trained option."""

    def __init__(self, seed: int = 1234, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        layers, c = [], 3
        for wdt in widths:
            conv = nn.Conv2d(c, wdt, 3, 2, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / (9 * c)) ** 0.5)
                conv.bias.zero_()
            layers.append(conv)
            c = wdt
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for conv in self.layers:
            x = F.leaky_relu(conv(x), 0.2)
            feats.append(x)
        return feats

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """A global descriptor (pooled deep features) used as a stand-in identity embedding."""
        f = self.forward(x)[-1]
        return F.normalize(F.adaptive_avg_pool2d(f, 4).flatten(1), dim=1)


def identity_loss(embed, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of identity embeddings (keeps the person recognisable)."""
    return (1.0 - (embed(a) * embed(b)).sum(1)).mean()
