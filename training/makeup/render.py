"""The makeup renderer: the teacher whose pseudo-paired targets the student learns.

Given an aligned face, its soft region masks (``livefilter.composite.regions``) and a look code
(``livefilter.looks.code``), it paints the look region by region in CIELAB, the way a makeup artist
layers it: foundation / paint on the skin, contour and highlight, blush, brows, eye shadow, liner,
lipstick. This is the per-region colour transfer of BeautyGAN / PSGAN's makeup loss turned into an
explicit target: the target *is* the source face with each region moved to the look's colours.

Lightness changes are multiplicative (``L * (1 + dL / 65)``): deep lips or a contour are a proportion
darker than the person's own, so they read the same on light and dark skin, and no term can lighten or
darken the skin as a whole (the skin region has no lightness parameter; highlight is a small local lift).
Eye shadow is the exception: a pigment whose lightness is stated against the person's skin (below).
Chroma moves towards the look's colour. Everything is local per pixel except the paint step's skin
lightness correction, so a small convolutional student can learn it.
"""

from __future__ import annotations

import torch

from livefilter.looks.code import FIELD_NAMES, SPEC
from livefilter.looks.region_stats import load_baseline
from livefilter.composite.regions import REGION_NAMES
from training.makeup.colour import lab_to_rgb, rgb_to_lab

_R = {n: i for i, n in enumerate(REGION_NAMES)}
_SCALES = torch.tensor([SPEC[k].scale for k in FIELD_NAMES])
L_REF = 65.0
PLAIN_LID_L_REL = load_baseline()["lid_L_rel"]  # a plain lid's lightness relative to the skin (CIELAB L)


def physical(code: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, CODE_DIM) student vectors -> {field: (B, 1, 1) physical values}."""
    p = code * _SCALES.to(code)
    return {k: p[:, i].view(-1, 1, 1) for i, k in enumerate(FIELD_NAMES)}


def _lerp(x: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x + (target - x) * w


#: which region each of the look's opacities paints (the paint field covers the whole crop)
COVERS = (("lips_opacity", "lips"), ("shadow_opacity", "eyeshadow"), ("liner_opacity", "eyeliner"),
          ("brow_opacity", "brows"), ("blush_opacity", "blush"), ("contour_opacity", "contour"),
          ("highlight_opacity", "highlight"), ("skin_opacity", "skin"))


#: the operations that move chroma (a*, b*); brows, contour and highlight change lightness alone (the liner
#: only darkens too, but towards near black, where little chroma survives the trip through RGB)
CHROMA = ("lips_opacity", "shadow_opacity", "liner_opacity", "blush_opacity", "skin_opacity")


def coverage(masks: torch.Tensor, code: torch.Tensor, chroma: bool = False) -> torch.Tensor:
    """(B, R, H, W) region masks, (B, CODE_DIM) codes -> (B, 1, H, W): how much of each pixel the look
    paints at all (the largest of its operations' weights, opacity x region), however faint its colour
    there. Zero means the look leaves the pixel as it was. With ``chroma``, only the operations that move
    a* and b* count: zero there means the pixel keeps its own chroma (a brow is darkened, never reddened)."""
    c = physical(code)
    w = torch.stack([c[f] * masks[:, _R[r]] for f, r in COVERS if not chroma or f in CHROMA], 1).amax(1, keepdim=True)
    return torch.maximum(w, c["paint"].clamp(0, 1).unsqueeze(1).expand_as(w))


def render(image: torch.Tensor, masks: torch.Tensor, code: torch.Tensor, smooth: torch.Tensor,
           painted: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Paint the look. ``image``/``smooth``/``painted`` (B, 3, H, W) RGB in [0, 1], ``masks`` (B, R, H, W),
    ``edges`` (B, 1, H, W) ink lines of the painted face, ``code`` (B, CODE_DIM). Returns RGB in [0, 1]."""
    c = physical(code)
    m = {n: masks[:, i] for n, i in _R.items()}
    lab = rgb_to_lab(image)
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]

    # Paint (stylised looks): flat edge-preserving shading, more saturation, ink outlines; the skin
    # keeps the person's own mean lightness. It covers the whole crop, hair and background included:
    # where it lands is the runtime's choice (the head, livefilter.composite.masks.HEAD_REACH).
    if bool((c["paint"] > 0).any()):
        plab = rgb_to_lab(painted)
        pL, pa, pb = plab[:, 0], plab[:, 1], plab[:, 2]
        skin = m["skin"]
        denom = skin.sum((1, 2)).clamp(min=1.0)
        shift = ((L - pL) * skin).sum((1, 2)) / denom
        pL = pL + shift.view(-1, 1, 1)
        sat = 1.0 + 0.8 * c["paint_saturation"]
        pa, pb = pa * sat, pb * sat
        pL = pL * (1.0 - 0.55 * c["paint_edges"] * edges[:, 0])
        w = c["paint"]
        L, a, b = _lerp(L, pL, w), _lerp(a, pa, w), _lerp(b, pb, w)

    # Foundation: smooth the skin (edge-preserving), optional warmth; never its lightness level.
    slab = rgb_to_lab(smooth)
    w = c["skin_opacity"] * c["skin_smooth"] * m["skin"]
    L, a, b = _lerp(L, slab[:, 0], w), _lerp(a, slab[:, 1], w), _lerp(b, slab[:, 2], w)
    ws = c["skin_opacity"] * m["skin"]
    a, b = a + c["skin_da"] * ws, b + c["skin_db"] * ws

    L = L * (1.0 + c["contour_dL"] / L_REF * c["contour_opacity"] * m["contour"])
    L = L + c["highlight_dL"] * c["highlight_opacity"] * m["highlight"]

    wb = c["blush_opacity"] * m["blush"]
    a, b = a + c["blush_da"] * wb, b + c["blush_db"] * wb
    L = L * (1.0 + c["blush_dL"] / L_REF * wb)

    L = L * (1.0 + c["brow_dL"] / L_REF * c["brow_opacity"] * m["brows"])

    # Eye shadow is a pigment laid over the lid: the lid moves towards the pigment's colour by its coverage
    # (opacity x band). Its lightness is stated against the face's own skin (the plain lid's lightness relative
    # to the skin, plus ``shadow_dL``), so the same look gives every face the same lid where it is applied,
    # on lighter and darker skin alike. An offset from each person's own lid (as for lips) left the lids as
    # different from each other as before: a look made from photos then barely moved the lids towards them
    # (training/teacher/LIDS.md).
    we = c["shadow_opacity"] * m["eyeshadow"]
    skin = m["skin"]
    skin_L = (lab[:, 0] * skin).sum((1, 2)) / skin.sum((1, 2)).clamp(min=1.0)
    L = _lerp(L, skin_L.view(-1, 1, 1) + PLAIN_LID_L_REL + c["shadow_dL"], we)
    a, b = _lerp(a, c["shadow_a"], 0.75 * we), _lerp(b, c["shadow_b"], 0.75 * we)

    wl = c["liner_opacity"] * m["eyeliner"]
    L = torch.minimum(L, _lerp(L, c["liner_L"].expand_as(L), wl))

    wlip = c["lips_opacity"] * m["lips"]
    a, b = _lerp(a, c["lips_a"], wlip), _lerp(b, c["lips_b"], wlip)
    L = L * (1.0 + c["lips_dL"] / L_REF * wlip)

    return lab_to_rgb(torch.stack([L.clamp(0, 100), a, b], 1))
