"""The teacher's losses: adversarial, makeup (renderer pseudo-pairs and region descriptors), cycle,
perceptual, Gram style, total variation, identity (FaceNet, differentiable), skin-tone guard and
region constraints."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from livefilter.composite.regions import MEASURE_NAMES, REGION_NAMES
from training.makeup.render import physical

_M = {n: i for i, n in enumerate(MEASURE_NAMES)}


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return ((real - 1) ** 2).mean() + (fake ** 2).mean()


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    return ((fake - 1) ** 2).mean()


def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def gram_loss(feats: list[torch.Tensor], ref_grams: list[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    """Per-sample squared Gram distance to the references' mean Gram, weighted per sample."""
    total = 0.0
    for f, g in zip(feats, ref_grams):
        total = total + (((gram(f) - g) ** 2).mean((1, 2)) * weight).sum() / weight.sum().clamp(min=1.0)
    return total / len(feats)


def style_loss(out_feats: list[torch.Tensor], target_feats: list[torch.Tensor], ref_grams: list[torch.Tensor],
               weight: torch.Tensor, ref_share: float) -> torch.Tensor:
    """Gram (texture statistics) of stylised samples: each against its own pseudo-target's (the illustration of that
    very face: flat areas and ink lines where the face has them), plus ``ref_share`` of the distance to the artistic
    references' mean Gram. The references' mean alone pulls every face towards one averaged anime texture, away from
    its own illustration (measured: at full weight it undid what the pseudo-pair taught in 75 steps)."""
    own = [gram(f).detach() for f in target_feats]
    return gram_loss(out_feats, own, weight) + ref_share * gram_loss(out_feats, ref_grams, weight)


def total_variation(r: torch.Tensor) -> torch.Tensor:
    return (r[:, :, 1:] - r[:, :, :-1]).abs().mean() + (r[:, :, :, 1:] - r[:, :, :, :-1]).abs().mean()


class RandomFeatureNet(nn.Module):
    """A fixed random-weight CNN (seeded) for perceptual and Gram terms: random networks capture texture
    statistics well enough for Gram losses (Ustyuzhaninov et al. 2017), and no pretrained weights can be
    downloaded here."""

    def __init__(self, seed: int = 1234, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        layers, c = [], 3
        for w in widths:
            conv = nn.Conv2d(c, w, 3, 2, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / (9 * c)) ** 0.5)
                conv.bias.zero_()
            layers.append(conv)
            c = w
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for conv in self.layers:
            x = F.leaky_relu(conv(x), 0.2)
            feats.append(x)
        return feats


class FaceNetIdentity(nn.Module):
    """The project's identity measure (FaceNet, ``training.eval.identity``) as a differentiable torch
    module, through livefilter's ONNX->torch interpreter: the same face box and prewhitening."""

    def __init__(self) -> None:
        super().__init__()
        import onnx

        from livefilter.translate.onnx_torch import build_module
        from training.eval import identity

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "facenet.onnx"
            onnx.save(identity.onnx_model(), str(path))
            self.net = build_module(str(path), trainable_inputs=True)
        self.fraction, self.size = identity.FACE_FRACTION, identity.INPUT

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) aligned crops in [0, 1] -> (B, 512) L2-normalised embeddings."""
        s = rgb01.shape[-1]
        m = int(round(s * (1 - self.fraction) / 2))
        x = F.interpolate(rgb01[:, :, m:s - m, m:s - m] * 255.0, size=(self.size, self.size), mode="bilinear",
                          antialias=True, align_corners=False)
        mean = x.mean((1, 2, 3), keepdim=True)
        std = x.std((1, 2, 3), keepdim=True, unbiased=False).clamp(min=1.0 / (x[0].numel() ** 0.5))
        return F.normalize(self.net((x - mean) / std).flatten(1), dim=1)


STYLE_ID_MARGIN = 0.85  # a stylised face keeps its identity once its cosine is this far above the threshold (~0.58)


def identity_loss(net: FaceNetIdentity, out01: torch.Tensor, in01: torch.Tensor,
                  stylised: torch.Tensor | None = None, margin: float = STYLE_ID_MARGIN) -> torch.Tensor:
    """1 - the FaceNet cosine of output and input, per face. A stylised face (``stylised`` (B,) above 0.5)
    pays only for the cosine it loses below ``margin``: the full term asks for cosine 1, the photo itself,
    and with it the toon kept the photo's shading and skin texture (cosine 0.99) where the illustration it
    learns from flattens them and still reads as the same person (cosine about 0.9)."""
    with torch.no_grad():
        e0 = net(in01)
    cos = (net(out01) * e0).sum(1)
    miss = 1.0 - cos
    if stylised is not None:
        miss = torch.where(stylised > 0.5, F.relu(margin - cos), miss)
    return miss.mean()


def region_means(lab: torch.Tensor, measure: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) Lab, (B, M, H, W) measure masks in [0, 1] -> (B, M, 3) mean Lab per region."""
    den = measure.sum((2, 3)).clamp(min=1.0)
    return torch.einsum("bchw,bmhw->bmc", lab, measure) / den.unsqueeze(-1)


def descriptor_loss(out_lab: torch.Tensor, in_lab: torch.Tensor, measure: torch.Tensor, code: torch.Tensor,
                    baseline: dict[str, float], ref_desc: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The look's per-region colour target, measured the way ``livefilter eval`` measures it.

    Lips and lids: the output's skin-relative mean (L relative to the face's own skin, a, b absolute)
    should move ``opacity`` of the way from the input's towards the colour the code states (the plain
    baseline plus the code's lightness offset, the code's chroma). The renderer's soft lid band covers
    the measured lid only about half-way, so it moves the measured lid only part of that way; this term
    asks for the measured result. With reference photos (``ref_desc``, (B, 6) lips L_rel, a, b and lid
    L_rel, a, b, NaN where a sample has none) the target is what the photos measure, not the code: the
    family's codes exaggerate by a gain. Returns (loss, skin lightness change per face)."""
    p = physical(code)
    mo, mi = region_means(out_lab, measure), region_means(in_lab, measure)
    skin_o, skin_i = mo[:, _M["skin"]], mi[:, _M["skin"]]
    total = 0.0
    for k, (region, (l_key, dl, a, b, op)) in enumerate({
        "lips": ("lips_L_rel", p["lips_dL"], p["lips_a"], p["lips_b"], p["lips_opacity"]),
        "eyelids": ("lid_L_rel", p["shadow_dL"], p["shadow_a"], p["shadow_b"], p["shadow_opacity"]),
    }.items()):
        o, i = mo[:, _M[region]], mi[:, _M[region]]
        present = (measure[:, _M[region]].sum((1, 2)) >= 8).float()
        own = torch.stack([i[:, 0] - skin_i[:, 0], i[:, 1], i[:, 2]], 1)
        want = torch.stack([baseline[l_key] + dl.view(-1), a.view(-1), b.view(-1)], 1)
        if ref_desc is not None:
            measured = ref_desc[:, 3 * k:3 * k + 3]
            want = torch.where(torch.isfinite(measured), measured, want)
        target = own + op.view(-1, 1) * (want - own)
        # the skin is the reference, not a handle: with its gradient the network met "lips N L darker than the
        # skin" by lightening the skin round the mouth (a pale halo under the lipstick at weight 1.0)
        got = torch.stack([o[:, 0] - skin_o[:, 0].detach(), o[:, 1], o[:, 2]], 1)
        total = total + (((got - target.detach()) ** 2).sum(1) * present).mean()
    return total / 100.0, skin_o[:, 0] - skin_i[:, 0]


CHEEK_REGIONS = tuple(REGION_NAMES.index(r) for r in ("blush", "contour", "highlight"))
LID_REGIONS = (REGION_NAMES.index("eyeshadow"),)


def local_colour_loss(out_lab: torch.Tensor, target_lab: torch.Tensor, masks: torch.Tensor,
                      regions: tuple[int, ...] = CHEEK_REGIONS, window: int = 9) -> torch.Tensor:
    """The local mean CIELAB colour (a ``window``-pixel box) inside ``regions``, output against target.

    Blush, contour and highlight (the default) are large and change by a few units, so the pixel pair loss
    hardly feels them beside the adversarial, identity and skin terms, and the teacher learned to leave cheeks
    alone. The eye shadow is the same for the student: a few units over a band a few pixels tall (what the term
    changed there is measured in LIDS.md section 12: little). The local mean (BeautyGAN's per-region
    colour target, kept local so the colour cannot gather in one blotch of the region) restores the signal
    without asking for texture."""
    m = masks[:, list(regions)].sum(1, keepdim=True).clamp(max=1.0)
    pad = window // 2
    diff = F.avg_pool2d(out_lab - target_lab.detach(), window, 1, pad, count_include_pad=False)
    area = m.sum((1, 2, 3))
    err = (m * diff ** 2).sum((1, 2, 3)) / area.clamp(min=1.0)
    return (err * (area >= 8).float()).mean() / 100.0


_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)


def _laplacian_l(lab: torch.Tensor) -> torch.Tensor:
    """The 4-neighbour Laplacian of CIELAB lightness, (B, 1, H, W), edges replicated."""
    return F.conv2d(F.pad(lab[:, :1], (1, 1, 1, 1), mode="replicate"), _LAPLACE.to(lab))


def detail_loss(out_lab: torch.Tensor, target_lab: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fine detail as the pseudo-pair has it: the Laplacian of lightness, output against target, weighted per
    pixel (the pair loss's region weights). Colour errors are mostly low-frequency and the pair loss is
    content to blur the lips' lines and the skin's pores to reach them; the renderer keeps the input's texture
    (its operations are per pixel under smooth masks) and the illustration has its own flat areas and ink,
    so matching the target's Laplacian keeps texture on makeup looks and asks for flat areas on the toon."""
    lo, lt = _laplacian_l(out_lab), _laplacian_l(target_lab)
    return (weight * (lo - lt.detach()) ** 2).mean() / 100.0


LIPS_REGION = REGION_NAMES.index("lips")


def lip_texture_loss(out_lab: torch.Tensor, in_lab: torch.Tensor, masks: torch.Tensor,
                     keep: torch.Tensor) -> torch.Tensor:
    """The lips' own lines, as the input has them: the Laplacian of lightness inside the lips (a pixel in from
    their edge, where the colour itself changes), output against INPUT, per face over its lips' area, for the
    faces ``keep`` (B,) marks (the makeup looks, not the stylised one). A lipstick changes the lips' colour,
    not their lines; a student that copies a teacher's smoother lips loses them at its own resolution, below
    the scale the host pipeline's detail gain restores (``keep_lip_texture``: a one-pixel band of the frame)."""
    m = -F.max_pool2d(-masks[:, LIPS_REGION:LIPS_REGION + 1], 3, 1, 1)  # eroded by one pixel
    m = m * keep.view(-1, 1, 1, 1)
    lo, li = _laplacian_l(out_lab), _laplacian_l(in_lab)
    area = m.sum((1, 2, 3))
    err = (m * (lo - li.detach()) ** 2).sum((1, 2, 3)) / area.clamp(min=1.0)
    return (err * (area >= 8).float()).mean() / 100.0


def placement_loss(out_lab: torch.Tensor, in_lab: torch.Tensor, off: torch.Tensor, keep: torch.Tensor,
                   delta: float = 0.5, off_chroma: torch.Tensor | None = None) -> torch.Tensor:
    """Colour stays where the look puts it: ``off`` (B, 1, H, W) marks the pixels no operation of the look
    touches (``training.makeup.render.coverage`` below a floor), and there the output must equal the input.
    The region-colour target says how much colour a region carries, not where it stops; pushed hard, a
    network meets a region's mean by spreading colour past the lip line and into blotches on the cheeks,
    which the pixel pair (a squared error, weak on small broad changes) hardly feels. So this is a hard
    zero, measured as a Charbonnier distance in CIELAB (about L1: a faint smear over a large area costs as
    much as a strong one on a few pixels), per face over its own untouched area. The look's own regions,
    faint tails included (a blush's falloff, a skin finish's whole skin), are left to the other terms: a
    floor on the renderer's colour change instead taught the networks to drop faint blush and skin finish
    altogether. ``off_chroma`` (B, 1, H, W), a superset of ``off``: where no operation moves a* or b*
    (``coverage(..., chroma=True)``: under the brows, contour and highlight, which change lightness
    alone), a* and b* must stay, the same way (a red blotch inside the brows' soft mask sat
    where the look paints, so ``off`` allowed it). ``keep`` (B,) weighs faces (0 for a stylised sample)."""
    cost, area = _off_look_change(out_lab, in_lab, off, off_chroma, delta)
    per_face = cost.sum((1, 2, 3)) / area.sum((1, 2, 3)).clamp(min=1.0)
    return (per_face * keep * (area.sum((1, 2, 3)) >= 64).float()).mean()


def _off_look_change(out_lab: torch.Tensor, in_lab: torch.Tensor, off: torch.Tensor, off_chroma: torch.Tensor | None,
                     delta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pixel, the Charbonnier change the look must not make (CIELAB where it paints nothing, a* and b* where
    it changes lightness alone), and the area that holds."""
    def moved(d: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((d ** 2).sum(1, keepdim=True) + delta * delta) - delta

    d = out_lab - in_lab
    cost = off * moved(d)
    if off_chroma is None:
        return cost, off
    return cost + (off_chroma - off).clamp(min=0.0) * moved(d[:, 1:]), torch.maximum(off_chroma, off)


def placement_peak_loss(out_lab: torch.Tensor, in_lab: torch.Tensor, off: torch.Tensor, keep: torch.Tensor,
                        share: float = 0.01, delta: float = 0.5,
                        off_chroma: torch.Tensor | None = None) -> torch.Tensor:
    """The placement term's worst pixels: per face, the mean change over the ``share`` of the crop's pixels
    that changed most where the look paints nothing (a tail mean, CVaR). The placement term is a mean over the
    whole untouched area, so a red blotch of a hundred pixels between the brows is a few thousandths of it and
    costs almost nothing; it is what the eye sees first, so this term pays for it at full weight.
    ``keep`` (B,) weighs faces."""
    cost, area = _off_look_change(out_lab, in_lab, off, off_chroma, delta)
    k = max(1, int(round(share * cost[0].numel())))
    worst = cost.flatten(1).topk(k, dim=1).values.mean(1)  # the cost is zero off the area: these are its worst
    return (worst * keep * (area.sum((1, 2, 3)) >= 64).float()).mean()


# (opacity field, renderer region) whose colour the region-colour target moves, and what is left out of its area
_SPREAD = (("lips_opacity", "lips", None), ("shadow_opacity", "eyeshadow", ("liner_opacity", "eyeliner")))


def spread_loss(out_lab: torch.Tensor, in_lab: torch.Tensor, masks: torch.Tensor, code: torch.Tensor,
                keep: torch.Tensor, window: int = 5) -> torch.Tensor:
    """Colour spread inside the lips and the lid the way the renderer spreads it: the output's change (a
    ``window``-pixel local mean per CIELAB channel, so texture is left to the detail and pair terms) should be
    proportional to the renderer's weight there (opacity x the region's soft mask), at full strength in the
    region's core and fading over its soft edge. The factor is fitted per face, region and channel (least
    squares), so this term says *where* the colour goes and leaves *how much* to the region-colour target.
    That target is a mean over the measured region: pushed hard, the networks met it by pooling colour at
    the region's soft edges (the inner corner of the lid, the philtrum above the lip line), where the
    renderer's weight is low and the placement term, which holds only where no operation reaches, allows it.
    The lid's area leaves out the liner, a different colour. ``keep`` (B,) weighs faces (0 for stylised)."""
    p = physical(code)
    pad = window // 2

    def local(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, window, 1, pad, count_include_pad=False)

    delta = local(out_lab - in_lab)
    total = out_lab.new_zeros(())
    for field, region, cut in _SPREAD:
        r = masks[:, REGION_NAMES.index(region)].unsqueeze(1)
        w = local(p[field].view(-1, 1, 1, 1) * r)  # the renderer's weight, smoothed as the change is
        area = (r > 0.01).float()
        if cut is not None:  # the cut region, widened by the window its change is smoothed over
            cf, cr = cut
            near = F.max_pool2d(p[cf].view(-1, 1, 1, 1) * masks[:, REGION_NAMES.index(cr)].unsqueeze(1),
                                window, 1, pad)
            area = area * (near < 0.02).float()
        ww = (area * w * w).sum((2, 3))  # (B, 1)
        k = (area * w * delta).sum((2, 3)) / ww.clamp(min=1e-6)  # (B, 3) least-squares factor per channel
        resid = area * (delta - k.view(-1, 3, 1, 1) * w) ** 2
        n = area.sum((1, 2, 3))
        on = ((ww.view(-1) > 1.0) & (n >= 16)).float() * keep
        total = total + ((resid.sum((1, 2, 3)) / n.clamp(min=1.0)) * on).mean()
    return total / 100.0


def translate(img: torch.Tensor, shift: torch.Tensor, turn: torch.Tensor | None = None,
              scale: torch.Tensor | None = None) -> torch.Tensor:
    """``img`` (B, C, H, W) moved by ``shift`` (B, 2: x and y in pixels, sub-pixel allowed), and turned by
    ``turn`` (B, radians) and scaled by ``scale`` (B) about its centre, as an aligned crop moves between two
    frames: bilinear, the edges replicated. The moves are host-side draws (small tensors); the sampling
    geometry is the aligner's (``affine_to_theta``)."""
    from livefilter.align.device import affine_to_theta

    n, _, h, w = img.shape
    t = shift.detach().cpu().double().numpy()
    a = np.zeros(n) if turn is None else turn.detach().cpu().double().numpy()
    k = 1.0 / (np.ones(n) if scale is None else scale.detach().cpu().double().numpy())
    c, s = np.cos(a) * k, np.sin(a) * k
    # the output's pixel u samples the input at centre + (R(-turn) / scale)(u - shift - centre)
    inv = np.stack([np.stack([c, s], 1), np.stack([-s, c], 1)], 1)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    m = np.concatenate([inv, (centre - np.einsum("nij,nj->ni", inv, t + centre))[..., None]], 2)
    theta = torch.from_numpy(affine_to_theta(m, (h, w), (h, w))).to(img)
    grid = F.affine_grid(theta, list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


def motion_consistency_loss(student, img: torch.Tensor, out: torch.Tensor, shift: torch.Tensor,
                            noise: torch.Tensor | None = None, margin: int = 3, turn: torch.Tensor | None = None,
                            scale: torch.Tensor | None = None) -> torch.Tensor:
    """What the student changes on the face moved by ``shift`` (turned by ``turn``, scaled by ``scale``; with
    ``noise`` added, as a camera's next frame has) against what it changes on the face, moved the same way: the
    mean absolute difference of the two residuals in 8-bit levels, ``margin`` pixels off the crop's edges. Residuals, so the noise itself passes
    through for free and the term never asks the student to smooth it away.

    The student learns from still crops only, so nothing asks its output to follow the face when it moves;
    the live feed shows what it does instead as flicker (LIDS.md section 18). This is the single-frame
    regulariser of Eilertsen et al. (CVPR 2019): a stable network's output moves with its input. ``student``
    maps RGB in [0, 1] to RGB in [0, 1]; ``out`` is its output on ``img``."""
    moved = translate(img, shift, turn, scale)
    if noise is not None:
        moved = (moved + noise).clamp(0.0, 1.0)
    diff = (student(moved) - moved) - translate(out - img, shift, turn, scale)
    if margin:
        diff = diff[..., margin:-margin, margin:-margin]
    return diff.abs().mean() * 255.0
