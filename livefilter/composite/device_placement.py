"""Makeup placement on the device: the twin of :mod:`livefilter.composite.placement`, with the same maths.

Geometry stays where it is computed for the host pipeline too: the crop-space region maps are
rasterised from the landmarks by :class:`livefilter.composite.placement.CropMaps` (OpenCV at crop size) and, with
the mirror affines, reach the device in the frame's one parameter upload (:mod:`livefilter.gpu.staging`);
the pixel work runs here on tensors:

* :class:`DeviceCropPlacement`: residual -> (main, lip) layers for every face at once, inside the crop
  stage's CUDA graph (normalised convolutions as separable Gaussian convolutions with OpenCV's kernel
  and border, the mirror warps as ``grid_sample``);
* :func:`gate_face`: the frame step for one face over its mouth and eye boxes (eager: the boxes change
  size every frame), polygons rasterised as antialiased coverage from their signed distance.

The host's OpenCV polygon fill (``LINE_AA``) covers about 0.65 px beyond a polygon's edge
(:data:`AA_REACH`); the coverage here reproduces it, so both pipelines put the lip line on the same pixel.
"""

from __future__ import annotations

from functools import lru_cache

import cv2

from livefilter.composite.placement import (DETAIL_KSIZE, DETAIL_SIGMA, FILL_FLOOR, LIP_SIGMA, LUMA, MAP_COUNT,
                                  MAX_DETAIL_GAIN, MIRROR_RAMP, PlacementSpec, blur_kernel)

AA_REACH = 0.65  # px beyond the edge at which OpenCV's antialiased fill reaches half coverage
# map planes (see livefilter.composite.placement.MAP_NAMES)
LIP_CORE, LIP_ZONE, LIP_RING, UNDER_EYE, UNDER_EYE_CORE, LID_0, LID_1, CHEEK_0, CHEEK_1, PAINT = range(MAP_COUNT)


@lru_cache(maxsize=32)
def gaussian(ksize: int, sigma: float, device: str):
    """OpenCV's 1-D Gaussian kernel (``cv2.getGaussianKernel``) as a float32 tensor."""
    import torch

    return torch.as_tensor(cv2.getGaussianKernel(ksize, sigma, cv2.CV_32F)[:, 0], device=device)


def blur(x, weights):
    """Separable Gaussian of (N, C, H, W) ``x``, reflected about the edge pixels (OpenCV's default border)."""
    import torch.nn.functional as F

    k = int(weights.numel())
    c = x.shape[1]
    x = F.pad(x, (k // 2, k // 2, k // 2, k // 2), mode="reflect")
    x = F.conv2d(x, weights.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, weights.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def normalised_fill(x, core, weights):
    """NC of (N, 3, S, S) ``x`` from (N, 1, S, S) ``core`` weights (:func:`livefilter.composite.placement.normalised_fill`)."""
    return blur(x * core, weights) / blur(core, weights).clamp_min(FILL_FLOOR)


def mirror_average(x, left, right, theta_from_one, theta_from_zero, on):
    """:func:`livefilter.composite.placement.mirror_average` for every face: ``theta_*`` (N, 2, 3) sample the other
    side's partners (``affine_grid``, align_corners=True: OpenCV's pixel centres), ``on`` (N,) 0 or 1."""
    import torch.nn.functional as F

    shape = tuple(x.shape)
    from_one = F.grid_sample(x, F.affine_grid(theta_from_one, shape, align_corners=True), mode="bilinear",
                             padding_mode="border", align_corners=True)
    from_zero = F.grid_sample(x, F.affine_grid(theta_from_zero, shape, align_corners=True), mode="bilinear",
                              padding_mode="border", align_corners=True)
    step = (from_one - x) * (MIRROR_RAMP * left).clamp(max=1.0) + (from_zero - x) * (MIRROR_RAMP * right).clamp(max=1.0)
    return x + 0.5 * on.view(-1, 1, 1, 1) * step


class DeviceCropPlacement:
    """The crop-space step for one look on the device (kernels built once per crop size and device)."""

    def __init__(self, size: int, spec: PlacementSpec, tight_ratio: float, device) -> None:
        import torch

        self.spec, self.tight_ratio = spec, float(tight_ratio)
        dev = str(device)
        self.fill_w = gaussian(*blur_kernel(size), dev)
        self.lip_w = gaussian(*blur_kernel(size, LIP_SIGMA), dev)
        self.luma = torch.as_tensor(LUMA, device=dev).view(1, 3, 1, 1)

    def layers(self, delta, mask, alpha, maps, mirror_theta, mirror_on):
        """(main, lips) layers, (N, 3, S, S) each, premultiplied by ``mask`` (N, 1, S, S) and ``alpha`` (N,).

        ``maps``: (N, MAP_COUNT, S, S) in 0..1; ``mirror_theta``: (N, 4, 2, 3) (lids from side 1, lids from
        side 0, cheeks from side 1, cheeks from side 0); ``mirror_on``: (N, 2) (lids, cheeks)."""
        import torch

        m = maps
        plane = lambda i: m[:, i:i + 1]  # noqa: E731
        if self.spec.lips:
            lips = normalised_fill(delta, plane(LIP_CORE) * mask, self.lip_w)
        else:
            lips = torch.zeros_like(delta)
        d = delta * plane(PAINT)
        d = mirror_average(d, plane(LID_0), plane(LID_1), mirror_theta[:, 0], mirror_theta[:, 1], mirror_on[:, 0])
        d = mirror_average(d, plane(CHEEK_0), plane(CHEEK_1), mirror_theta[:, 2], mirror_theta[:, 3],
                           mirror_on[:, 1])
        fill = normalised_fill(d, plane(LIP_RING) * mask, self.fill_w)
        d = d + plane(LIP_ZONE) * (fill - d)
        if self.spec.whole_face:
            fill = normalised_fill(d, plane(UNDER_EYE_CORE) * mask, self.fill_w)
            fill = fill - (fill * self.luma).sum(1, keepdim=True)
            d = d + plane(UNDER_EYE) * (fill - d)
        else:
            d = d * (1.0 - plane(UNDER_EYE))
        regions = torch.maximum(torch.maximum(plane(LID_0), plane(LID_1)), torch.maximum(plane(CHEEK_0), plane(CHEEK_1)))
        core = ((mask * self.tight_ratio).clamp(max=1.0) - mask) * regions + mask
        a = alpha.view(-1, 1, 1, 1)
        return d * (core * a), lips * (mask * a)


# -- frame space ---------------------------------------------------------------------------------------
def polygon_coverage(poly, x0: int, y0: int, h: int, w: int):
    """Antialiased coverage (h, w) of the polygon ``poly`` ((E, 2) frame pixels, a device tensor) over the
    box at (x0, y0): 1 inside, falling to 0 across the edge as OpenCV's ``LINE_AA`` fill does."""
    import torch

    ys = torch.arange(y0, y0 + h, device=poly.device, dtype=torch.float32)
    xs = torch.arange(x0, x0 + w, device=poly.device, dtype=torch.float32)
    py, px = torch.meshgrid(ys, xs, indexing="ij")
    p = torch.stack([px.reshape(-1), py.reshape(-1)], -1).unsqueeze(1)  # P,1,2
    a, b = poly.unsqueeze(0), torch.roll(poly, -1, 0).unsqueeze(0)  # 1,E,2
    ab, ap = b - a, p - a
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0, 1)
    dist = (ap - t.unsqueeze(-1) * ab).norm(dim=-1).amin(1)
    ay, by, ax, bx = a[..., 1], b[..., 1], a[..., 0], b[..., 0]
    dy = by - ay
    dy = torch.where(dy == 0, torch.full_like(dy, 1e-12), dy)
    crosses = ((ay > p[..., 1]) != (by > p[..., 1])) & (p[..., 0] < (bx - ax) * (p[..., 1] - ay) / dy + ax)
    inside = (crosses.sum(1) % 2) == 1
    signed = torch.where(inside, -dist, dist)
    return (AA_REACH + 0.5 - signed).clamp(0, 1).view(h, w)


def lightness(rgb):
    """CIELAB L of (3, H, W) RGB in 0..255 (OpenCV's formula: sRGB -> linear -> Y (D65) -> L)."""
    import torch

    c = (rgb.clamp(0, 255) / 255.0)
    lin = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = 0.212671 * lin[0] + 0.715160 * lin[1] + 0.072169 * lin[2]
    return torch.where(y > 0.008856, 116.0 * y.clamp_min(1e-12) ** (1.0 / 3.0) - 16.0, 903.3 * y)


@lru_cache(maxsize=8)
def _laplacian(device: str):
    import torch

    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=device).view(1, 1, 3, 3)


def laplacian(L):
    """4-neighbour Laplacian of (H, W) L, reflected at the border (OpenCV's ``Laplacian`` ksize=1)."""
    import torch.nn.functional as F

    return F.conv2d(F.pad(L[None, None], (1, 1, 1, 1), mode="reflect"), _laplacian(str(L.device)))[0, 0]


def detail_energy(L, inside):
    """Mean squared 4-neighbour Laplacian of L over ``inside``."""
    lap = laplacian(L)
    return (lap * lap * inside).sum() / inside.sum().clamp_min(1.0)


def keep_lip_texture(delta, frame, lips):
    """:func:`livefilter.composite.placement.keep_lip_texture` on the device: (3, h, w) ``delta`` in place over
    ``frame`` (3, h, w) float, lip coverage (h, w). No host wait: the step stays a device tensor."""
    import torch

    if delta.shape[1] < 3 or delta.shape[2] < 3:
        return delta
    import torch.nn.functional as F

    # well inside the lips (a pixel in from the antialiased edge), as the host's 3x3 erosion
    inside = -F.max_pool2d(-F.pad((lips > 0.99).float()[None, None], (1, 1, 1, 1), value=0.0), 3, 1)[0, 0]
    out = frame + delta
    detail = (out - blur(out[None], gaussian(DETAIL_KSIZE, DETAIL_SIGMA, str(out.device)))[0]) * lips
    # the host's detail_step: the positive root of mean((a + t b)^2) = the input's energy, on the device
    a = laplacian(lightness(out))
    b = laplacian(lightness(out + detail)) - a
    n = inside.sum()
    aa, ab, bb = (a * a * inside).sum(), (a * b * inside).sum(), (b * b * inside).sum()
    short = n * detail_energy(lightness(frame), inside) - aa
    step = ((ab * ab + bb * short.clamp_min(0.0)).sqrt() - ab) / bb.clamp_min(1e-9)
    usable = (n >= 8) & (aa > 1e-6 * n) & (short > 0) & (bb > 1e-9)
    delta += torch.where(usable, step.clamp(0.0, MAX_DETAIL_GAIN - 1.0), 0.0) * detail
    return delta


def gate_face(back, frame_f, lips_layer, theta_box, outer, inner, eyes, mouth_box, eye_boxes) -> None:
    """The frame step for one face, in place on its warped main layer ``back`` (3, h, w) over the frame
    rectangle ``frame_f`` (3, h, w). ``lips_layer`` (1, 3, S, S) and ``theta_box`` (1, 2, 3) sample it into
    the mouth box; ``outer``, ``inner``, ``eyes`` are polygons in rectangle pixels (device tensors);
    boxes are (x0, y0, x1, y1) in rectangle pixels (host ints, from the same landmarks)."""
    import torch.nn.functional as F

    x0, y0, x1, y1 = mouth_box
    if x1 > x0 and y1 > y0:
        bh, bw = y1 - y0, x1 - x0
        c_outer = polygon_coverage(outer, x0, y0, bh, bw)
        c_lips = c_outer * (1.0 - polygon_coverage(inner, x0, y0, bh, bw))
        grid = F.affine_grid(theta_box, (1, 3, bh, bw), align_corners=False)
        layer = F.grid_sample(lips_layer, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
        box = back[:, y0:y1, x0:x1]
        box.mul_(1.0 - c_outer).add_(layer * c_lips)
        keep_lip_texture(box, frame_f[:, y0:y1, x0:x1], c_lips)
    for poly, (ex0, ey0, ex1, ey1) in zip(eyes, eye_boxes):
        if ex1 > ex0 and ey1 > ey0:
            back[:, ey0:ey1, ex0:ex1].mul_(1.0 - polygon_coverage(poly, ex0, ey0, ey1 - ey0, ex1 - ex0))
