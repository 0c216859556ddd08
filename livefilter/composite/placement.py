"""Makeup placement: where a look's residual may land, exact in frame pixels (host version).

The student predicts the look as a colour residual in a small aligned crop (128 px on the CPU: about 25 px
across the lips), and the residual is warped back over a face of 200-500 px. Left as it is, it lands
where a blurred 25-px picture puts it: lipstick on the teeth and past the lip line, shadow under the eyes,
one lid darker than the other. Placement turns the residual into makeup a makeup artist would sign, in
two steps whose maths both pipelines share (the device twin is :mod:`livefilter.composite.device_placement`):

1. **Crop space** (per face, before the inverse warp). Region maps are rasterised from the crop's
   landmarks (:class:`CropMaps`, OpenCV at crop size: polygons, not pixels, are looped) and the residual
   is split into two layers by normalised convolution (NC: blur(residual x core) / blur(core), the
   residual of a region's interior extended outwards without anything from beyond it):

   * the **lip layer**: the residual of the lips' interior, extended to and past the lip line, so the
     colour reaches the lip line at full strength and nothing from the skin or the mouth leaks in;
   * the **main layer**: the residual everywhere else; around the lips it is the residual of the skin
     just beyond them (NC from a ring), so lipstick never bleeds onto skin, moustache or beard; under
     the eyes it is the skin's below, beside the cheek apples (whole-face looks: the foundation's tint, never
     the blush), or nothing (makeup looks), so shadow never runs under the eye;
   * **both sides alike**: the mean residual of the left and right lid, and of the left and right cheek,
     is set to the two sides' average (the shape within each region is kept). The regions come from the
     landmarks, so on a turned face (up to about ±25° yaw) each side's region is the part of that lid or
     cheek the camera sees, and the same colour offset lands on both, relative to each side's own skin
     (the residual adds to what is there, so one-sided light keeps its shading);
   * a **makeup look** (no foundation, no paint) lands only on the regions it paints (lips, lids and
     lash line, brows, cheeks, by its code's opacities); elsewhere its residual is zero, so a grey smudge
     the network leaves on a laughing nose never shows.

2. **Frame space** (per face, after the inverse warp, over small boxes around the mouth and the eyes).
   The outer lip line, the mouth opening and the eye openings are rasterised from the landmarks in
   frame pixels, antialiased, at full resolution: the lip layer inside the lips, the main layer outside,
   nothing in the mouth opening (teeth, tongue) or the eye openings, whatever the strength.

The residual is added to the full-resolution frame, so the lips' own lines and sheen and the lids'
texture stay (the layers are smooth colour offsets, never a flat fill).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.detect.topology import (BROWS, BROW_LOWER, CHEEKBONE_TOP, CHEEK_APPLE, CONTOUR_LINE, LIPS, LIPS_INNER, LOWER_LID, NOSE_BRIDGE, UPPER_LID)
from livefilter.composite.regions import resample

#: the crop-space maps, in the order the device stages them (:data:`MAP_COUNT` uint8 planes per face)
MAP_NAMES = ("lip_core", "lip_zone", "lip_ring", "under_eye", "under_eye_core", "lid_left", "lid_right",
             "cheek_left", "cheek_right", "paint")
MAP_COUNT = len(MAP_NAMES)
# Mirror partners (side 0, side 1), in the same order on both sides: lids with the brows' lower edge, cheeks.
LID_PAIRS = tuple(UPPER_LID[s] + LOWER_LID[s][1:-1] + BROW_LOWER[s] for s in (0, 1))
CHEEK_PAIRS = tuple(CHEEK_APPLE[s] + CONTOUR_LINE[s] + CHEEKBONE_TOP[s] for s in (0, 1))
EYE_POLYGONS = tuple(tuple(UPPER_LID[s]) + tuple(LOWER_LID[s][::-1][1:-1]) for s in (0, 1))
# Widths in crop pixels at 128 px (they scale with the crop size).
LIP_CORE_INSET = 1.5  # the lip layer's weight rises over this distance inside the lip line
LIP_ZONE = (2.0, 4.0)  # the skin fill replaces the residual up to the first width outside the lips, fading to the second
LIP_RING = (4.0, 8.0)  # ... measured on the skin between these distances outside the lips
# a whole-face look (foundation, paint) keeps its residual on the skin, where the network's lipstick can run
# far up the philtrum on a laughing face: its skin fill reaches further out, from skin further away
LIP_ZONE_WHOLE_FACE = (4.0, 9.0)
LIP_RING_WHOLE_FACE = (9.0, 14.0)
FILL_SIGMA = 3.0  # normalised convolution's Gaussian
LIP_SIGMA = 6.0  # ... for the lip layer: a colour over the lips, smooth enough to keep their sheen and lines
FILL_FLOOR = 0.05  # below this much core weight nearby, a fill fades to zero (nothing to extend)
UNDER_EYE = 0.45  # the under-eye zone's height, as a fraction of the eye's width
APPLE_EDGE = 0.02  # the cheek apples' soft map from this value on is blush, not the under-eye zone's skin
MAX_DETAIL_GAIN = 1.6  # the most the lips' own detail is raised (keep_lip_texture)
DETAIL_SIGMA, DETAIL_KSIZE = 1.0, 5  # the detail is the output minus this Gaussian of it
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # an RGB offset's lightness part
MIRROR_RAMP = 3.0  # the mirror's weight is the region map times this, at most 1 (a short ramp at its edge)
SYMMETRY_MIN_SHARE = 0.3  # both sides are equalised only when the smaller side's region is this share of the other
GATE_MARGIN = 2.0  # px around a frame-step polygon's box (its antialiased edge)
MIN_WEIGHT = 4.0  # a region with less weight than this (pixels) has no mean to equalise


def blur_kernel(size: int, sigma_128: float = FILL_SIGMA) -> tuple[int, float]:
    """(ksize, sigma) of a normalised convolution at crop ``size`` (the same kernel on the device)."""
    sigma = sigma_128 * size / 128.0
    return int(2 * round(3 * sigma) + 1), sigma


@dataclass(frozen=True)
class PlacementSpec:
    """What of a look's residual may land where, from its code (:class:`livefilter.looks.code.LookCode`)."""

    whole_face: bool = True  # foundation or paint: the residual may land on all the skin
    head: bool = False  # an illustration trained on the whole crop: the residual lands on the head, hair and ears too
    lips: bool = True
    eyes: bool = True  # shadow band, lash line and wing
    brows: bool = True
    blush: bool = True  # cheek apples
    contour: bool = True  # the hollow under the cheekbones
    highlight: bool = True  # cheekbone tops and the nose bridge

    @classmethod
    def of(cls, code) -> "PlacementSpec":
        if code is None:  # a look without a code (an older pack): it may paint the whole face
            return cls()
        whole = code.skin_opacity > 0 or code.paint > 0
        return cls(whole_face=whole, lips=whole or code.lips_opacity > 0,
                   eyes=code.shadow_opacity > 0 or code.liner_opacity > 0, brows=code.brow_opacity > 0,
                   blush=code.blush_opacity > 0, contour=code.contour_opacity > 0,
                   highlight=code.highlight_opacity > 0)


def face_down(pts: np.ndarray) -> np.ndarray:
    """The face's own downward unit vector: from between the eyes towards the mouth."""
    v = pts[list(LIPS)].mean(0) - (pts[33] + pts[263]) / 2
    return (v / max(float(np.linalg.norm(v)), 1e-6)).astype(np.float32)


class CropMaps:
    """Rasterises the crop-space region maps of one face into reused buffers ((MAP_COUNT, S, S) float32)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.u = size / 128.0
        self.maps = np.zeros((MAP_COUNT, size, size), np.float32)
        self._a = np.zeros((size, size), np.uint8)
        self._b = np.zeros((size, size), np.uint8)
        self._paint = np.zeros((size, size), np.uint8)
        self._f = np.zeros((size, size), np.float32)

    def _poly(self, buf: np.ndarray, *polys: np.ndarray) -> np.ndarray:
        buf[:] = 0
        cv2.fillPoly(buf, [np.round(p * 16).astype(np.int32) for p in polys], 1, cv2.LINE_8, 4)
        return buf

    def _soft(self, hard: np.ndarray, sigma: float) -> np.ndarray:
        return cv2.GaussianBlur(hard.astype(np.float32), (0, 0), sigma * self.u)

    def build(self, pts: np.ndarray, spec: PlacementSpec) -> np.ndarray:
        """The maps of one face from its (468, 2) landmarks in crop pixels (a view of a reused buffer)."""
        pts = np.asarray(pts, np.float32)[:, :2]
        u, m = self.u, self.maps
        outer = self._poly(self._a, pts[list(LIPS)])
        inner = self._poly(self._b, pts[list(LIPS_INNER)])
        d_in = cv2.distanceTransform(outer, cv2.DIST_L2, 3)
        d_out = cv2.distanceTransform(1 - outer, cv2.DIST_L2, 3)
        mouth = cv2.dilate(inner, np.ones((3, 3), np.uint8), iterations=max(1, round(u)))
        # soft core: weight rising over the inset, so a thin (stretched, smiling) lip still has a core
        np.clip(d_in * (1.0 / (LIP_CORE_INSET * u)), 0, 1, out=m[0])
        m[0] *= 1 - mouth
        zone, ring = (LIP_ZONE_WHOLE_FACE, LIP_RING_WHOLE_FACE) if spec.whole_face else (LIP_ZONE, LIP_RING)
        np.clip((zone[1] * u - d_out) / ((zone[1] - zone[0]) * u), 0, 1, out=m[1])
        m[2] = (d_out >= ring[0] * u) & (d_out <= ring[1] * u)
        down = face_down(pts)
        eyes = np.zeros_like(self._a)
        under = np.zeros_like(self._a)
        core = np.zeros_like(self._a)
        for side in (0, 1):
            lid, low = pts[list(UPPER_LID[side])], pts[list(LOWER_LID[side])]
            eyes |= self._poly(self._b, np.concatenate([lid, low[::-1]]))
            h = UNDER_EYE * float(np.linalg.norm(lid[0] - lid[-1])) * down
            # from just above the lower lash line (inside the eye, which the frame step keeps unchanged),
            # so the zone is whole at the lash line after its soft edge
            top = low - 1.5 * u * down
            under |= self._poly(self._b, np.concatenate([top, (low + h)[::-1]]))
            core |= self._poly(self._b, np.concatenate([low + 1.1 * h, (low + 1.6 * h)[::-1]]))
        eyes_grown = cv2.dilate(eyes, np.ones((3, 3), np.uint8), iterations=max(1, round(u)))
        m[3] = self._soft(under, 1.0) * (1 - eyes)
        m[4] = core
        paint = self._paint
        paint[:] = 0
        face_w = float(np.linalg.norm(pts[234] - pts[454]))
        for side in (0, 1):
            lid = pts[list(UPPER_LID[side])]
            brow = pts[list(BROW_LOWER[side])]
            brow_line = resample(brow, len(lid))
            # both sides alike over the lid and the brow above it (the mirror's region)
            top_line = resample(pts[list(BROWS[side][:5])], len(lid))  # the brow's upper edge, outer to inner
            upper = self._poly(self._b, np.concatenate([lid, (top_line + 0.15 * (top_line - lid))[::-1]]))
            m[5 + side] = self._soft(upper * (1 - eyes_grown), 1.5)
            band = self._poly(self._b, np.concatenate([lid, (lid + 0.8 * (brow_line - lid))[::-1]]))
            c = pts[list(CHEEK_APPLE[side])].mean(0)
            self._b[:] = 0
            cv2.circle(self._b, (int(round(c[0] * 16)), int(round(c[1] * 16))), int(round(0.13 * face_w * 16)), 1,
                       -1, cv2.LINE_8, 4)
            m[7 + side] = self._soft(self._b, 2.0)
            if spec.eyes:  # shadow band, the lash line and its wing
                paint |= band
                cv2.dilate(self._poly(self._a, np.concatenate([lid, pts[list(LOWER_LID[side])][::-1]])),
                           np.ones((3, 3), np.uint8), dst=self._a, iterations=max(1, round(2 * u)))
                paint |= self._a * (1 - eyes)
                inner_c, outer_c = lid[-1], lid[0]
                wing = outer_c + 0.25 * (outer_c - inner_c)
                cv2.line(paint, tuple(np.round(outer_c * 16).astype(int)), tuple(np.round(wing * 16).astype(int)), 1,
                         max(1, round(3 * u)), cv2.LINE_8, 4)
            if spec.brows:
                paint |= cv2.dilate(self._poly(self._a, pts[list(BROWS[side])]), np.ones((3, 3), np.uint8),
                                    iterations=max(1, round(2 * u)))
            if spec.blush:
                paint |= self._b
            for line, width, on in ((CONTOUR_LINE[side], 0.09, spec.contour),
                                    (CHEEKBONE_TOP[side], 0.07, spec.highlight)):
                if on:
                    cv2.polylines(paint, [np.round(pts[list(line)] * 16).astype(np.int32)], False, 1,
                                  max(1, round(width * face_w)), cv2.LINE_8, 4)
        if spec.highlight:
            cv2.polylines(paint, [np.round(pts[list(NOSE_BRIDGE)] * 16).astype(np.int32)], False, 1,
                          max(1, round(0.05 * face_w)), cv2.LINE_8, 4)
        if spec.whole_face:
            # the under-eye zone takes the tint of the skin below it, never the blush: where the cheek apples
            # reach up under the eyes (a smile, a full face) its core is the skin beside them, or nothing (the
            # apples' soft edge counts as apple: the core is off wherever they reach 2 %); a makeup look never
            # reads the core, so it is left as it is
            np.maximum(m[7], m[8], out=self._f)
            np.multiply(self._f, -1.0 / APPLE_EDGE, out=self._f)
            np.add(self._f, 1.0, out=self._f)
            np.clip(self._f, 0.0, 1.0, out=self._f)
            m[4] *= self._f
            m[9] = 1.0
        else:
            m[9] = self._soft(paint, 2.0)
        return m


def normalised_fill(x: np.ndarray, core: np.ndarray, ksize: int, sigma: float, out: np.ndarray) -> np.ndarray:
    """NC of (S, S, 3) ``x`` from the (S, S) ``core`` weights: the core's residual, extended outwards;
    where the core is far away the fill fades to zero (:data:`FILL_FLOOR`)."""
    num = cv2.GaussianBlur(x * core[..., None], (ksize, ksize), sigma)
    den = cv2.GaussianBlur(core, (ksize, ksize), sigma)
    np.divide(num, np.maximum(den, FILL_FLOOR)[..., None], out=out)
    return out


def mirror_affine(pts: np.ndarray, src: tuple[int, ...], dst: tuple[int, ...]) -> np.ndarray | None:
    """The 2x3 affine (a reflection, for a face) taking the landmarks ``src`` of one side onto their
    mirror partners ``dst`` on the other, least squares; None when the points are degenerate."""
    a = np.concatenate([pts[list(src)], np.ones((len(src), 1), np.float32)], 1).astype(np.float64)
    b = pts[list(dst)].astype(np.float64)
    m, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    return m.T if rank == 3 else None


def mirror_plan(pts: np.ndarray, left: np.ndarray, right: np.ndarray,
                pairs: tuple[tuple[int, ...], tuple[int, ...]]) -> np.ndarray | None:
    """The side-1 -> side-0 affine of a mirrored region pair, or None when the pair is not mirrored: one
    side barely visible (a profile: nothing to mirror from) or degenerate landmarks."""
    wl, wr = float(left.sum()), float(right.sum())
    if min(wl, wr) < MIN_WEIGHT or min(wl, wr) < SYMMETRY_MIN_SHARE * max(wl, wr):
        return None
    return mirror_affine(pts, pairs[1], pairs[0])


def mirror_average(x: np.ndarray, left: np.ndarray, right: np.ndarray, one_to_zero: np.ndarray | None,
                   scratch: tuple[np.ndarray, np.ndarray]) -> None:
    """Both sides alike: inside each side's region the residual becomes the average of its own and the
    other side's, mirrored onto it by the landmarks' affine ``one_to_zero`` (:func:`mirror_plan`), in
    place. On a turned face the affine also foreshortens, so each side gets the other's makeup in its
    own geometry. ``left`` / ``right``: the soft region maps of side 0 / side 1."""
    if one_to_zero is None:
        return
    size = x.shape[1], x.shape[0]
    from_one, from_zero = scratch
    # warpAffine's dst(p) = src(M^-1 p): at side-0 pixels, the residual of their side-1 partners
    cv2.warpAffine(x, one_to_zero, size, dst=from_one, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # with WARP_INVERSE_MAP, dst(p) = src(M p): at side-1 pixels, the residual of their side-0 partners
    cv2.warpAffine(x, one_to_zero, size, dst=from_zero, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                   borderMode=cv2.BORDER_REPLICATE)
    from_one -= x
    from_zero -= x
    # the whole average inside each region (weight 1), a ramp only at its soft edge
    from_one *= np.minimum(MIRROR_RAMP * left, 1.0)[..., None]
    from_zero *= np.minimum(MIRROR_RAMP * right, 1.0)[..., None]
    x += 0.5 * (from_one + from_zero)


class CropPlacement:
    """The crop-space step for one look (crop size, reused buffers): residual -> (main, lips) layers."""

    def __init__(self, size: int, spec: PlacementSpec, tight_ratio: float = 1.0) -> None:
        """``tight_ratio``: the face mask's feather over the lids' and cheeks' (>= 1)."""
        self.size, self.spec, self.tight_ratio = size, spec, float(tight_ratio)
        self.ksize, self.sigma = blur_kernel(size)
        self.lip_ksize, self.lip_sigma = blur_kernel(size, LIP_SIGMA)
        self.maps = CropMaps(size)
        self._fill = np.empty((size, size, 3), np.float32)
        self._core = np.empty((size, size), np.float32)
        self._mirror = (np.empty((size, size, 3), np.float32), np.empty((size, size, 3), np.float32))

    def layers(self, delta: np.ndarray, mask: np.ndarray, alpha: float, pts: np.ndarray,
               lips_out: np.ndarray) -> np.ndarray:
        """Split one face's residual ``delta`` ((S, S, 3) float32 styled - crop, modified in place into the
        main layer) into main and lip layers, both premultiplied by the face ``mask`` ((S, S), occluders
        cut out) and ``alpha`` (the strength where the network does not apply it). ``lips_out`` receives
        the lip layer; returns ``delta``."""
        m = self.maps.build(pts, self.spec)
        k, s = self.ksize, self.sigma
        core = self._core
        if self.spec.lips:
            np.multiply(m[0], mask, out=core)
            normalised_fill(delta, core, self.lip_ksize, self.lip_sigma, lips_out)  # to the lip line
        else:
            lips_out[:] = 0
        np.multiply(delta, m[9][..., None], out=delta)  # a makeup look paints its regions only
        mirror_average(delta, m[5], m[6], mirror_plan(pts, m[5], m[6], LID_PAIRS), self._mirror)
        mirror_average(delta, m[7], m[8], mirror_plan(pts, m[7], m[8], CHEEK_PAIRS), self._mirror)
        np.multiply(m[2], mask, out=core)
        fill = normalised_fill(delta, core, k, s, self._fill)
        delta += m[1][..., None] * (fill - delta)  # around the lips: the skin's residual, not the lipstick's
        if self.spec.whole_face:
            np.multiply(m[4], mask, out=core)
            fill = normalised_fill(delta, core, k, s, self._fill)
            fill -= (fill @ LUMA)[..., None]  # the skin's tint below, never its darkening: no bruise
            delta += m[3][..., None] * (fill - delta)
        else:
            delta *= (1 - m[3])[..., None]  # under the eyes: nothing
        # the face's mask, with a narrow feather on the lids and cheeks (a turned face's far cheek lies
        # within the wide feather of a whole-face look, which would fade its blush)
        np.minimum(mask * self.tight_ratio, 1.0, out=core)
        core -= mask
        core *= np.maximum(np.maximum(m[5], m[6]), np.maximum(m[7], m[8]))
        core += mask
        core *= alpha
        np.multiply(delta, core[..., None], out=delta)
        np.multiply(lips_out, (mask * alpha)[..., None], out=lips_out)
        return delta


# -- frame space ---------------------------------------------------------------------------------------
def box_around(pts: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixel box around frame points, ``margin`` px wider, clipped to the frame."""
    x0 = int(max(np.floor(pts[:, 0].min() - margin), 0))
    y0 = int(max(np.floor(pts[:, 1].min() - margin), 0))
    x1 = int(min(np.ceil(pts[:, 0].max() + margin) + 1, width))
    y1 = int(min(np.ceil(pts[:, 1].max() + margin) + 1, height))
    return x0, y0, max(x0, x1), max(y0, y1)


def coverage(buf: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Antialiased coverage (0..1 float32) of a frame polygon, already shifted into ``buf``'s box."""
    buf[:] = 0
    cv2.fillPoly(buf, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return buf.astype(np.float32) * (1.0 / 255.0)


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIELAB L (0..100) of (h, w, 3) RGB values in 0..255 (float or uint8)."""
    return cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)[..., 0]


def detail_step(a: np.ndarray, b: np.ndarray, e_in: float) -> float:
    """How much of a detail layer to add so the lightness detail energy inside the lips reaches ``e_in``.

    ``a`` holds the Laplacian of the output's lightness at the pixels inside the lips, ``b`` what one whole
    detail layer adds to it there. The energy after adding ``t`` layers is mean((a + t b)^2), a quadratic in
    ``t``: its positive root. (Scaling the detail by the square root of the energy ratio, as if the Laplacian
    saw nothing but the detail, falls short: the detail above a 1-px Gaussian is only part of what the
    Laplacian sees, and the smoother the output, the further short.) 0 when the output already has the
    input's detail; at most :data:`MAX_DETAIL_GAIN` - 1."""
    aa, ab, bb = float(a @ a), float(a @ b), float(b @ b)
    short = len(a) * e_in - aa
    if len(a) == 0 or short <= 0 or bb <= 1e-9:
        return 0.0
    t = (np.sqrt(ab * ab + bb * short) - ab) / bb
    return float(np.clip(t, 0.0, MAX_DETAIL_GAIN - 1.0))


def keep_lip_texture(delta: np.ndarray, frame: np.ndarray, lips: np.ndarray) -> float:
    """Keep the lips' lines and sheen as visible as they were (in place on ``delta``; returns the gain).

    A deep lipstick takes a lip's green and blue down, and most of a lip's visible texture is in them:
    the colour is right but the lines fade (lightness detail 0.7-0.8 of the input's), and a student that
    paints smoothly fades them further. The output's detail (itself minus a 1-px Gaussian) is added inside
    the lips until its lightness detail matches the input's (:func:`detail_step`), never lowered and at
    most :data:`MAX_DETAIL_GAIN` times."""
    # well inside the lips (a pixel in from the antialiased edge): the measure of their own texture
    inside = cv2.erode((lips > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=0).astype(bool)
    n = int(np.count_nonzero(inside))
    if n < 8:
        return 1.0
    out = frame.astype(np.float32) + delta
    lap, lap_in = (cv2.Laplacian(lightness(x), cv2.CV_32F, ksize=1)[inside] for x in (out, frame))
    e_in, e_out = float(lap_in @ lap_in) / n, float(lap @ lap) / n
    if e_out <= 1e-6 or e_out >= e_in:
        return 1.0
    detail = (out - cv2.GaussianBlur(out, (DETAIL_KSIZE, DETAIL_KSIZE), DETAIL_SIGMA)) * lips[..., None]
    # lightness is not linear in RGB, but over one detail layer it nearly is: its Laplacian adds up
    out += detail  # the output with one whole detail layer
    step = detail_step(lap, cv2.Laplacian(lightness(out), cv2.CV_32F, ksize=1)[inside] - lap, e_in)
    delta += step * detail
    return 1.0 + step


@dataclass(frozen=True)
class GateGeometry:
    """One face's frame-step geometry in a rectangle's pixels: the polygons and the boxes around them."""

    outer: np.ndarray  # outer lip contour
    inner: np.ndarray  # mouth opening
    eyes: tuple[np.ndarray, ...]  # eye openings
    mouth_box: tuple[int, int, int, int]  # (x0, y0, x1, y1), empty when off the rectangle
    eye_boxes: tuple[tuple[int, int, int, int], ...]

    @classmethod
    def of(cls, landmarks: np.ndarray, origin: tuple[int, int], width: int, height: int) -> "GateGeometry":
        """From frame ``landmarks`` (468, 2), for the rectangle of ``width`` x ``height`` at ``origin`` (x, y)."""
        pts = np.asarray(landmarks, np.float64)[:, :2] - origin
        outer, inner = pts[list(LIPS)], pts[list(LIPS_INNER)]
        eyes = tuple(pts[list(poly)] for poly in EYE_POLYGONS)
        return cls(outer, inner, eyes, box_around(outer, GATE_MARGIN, width, height),
                   tuple(box_around(e, GATE_MARGIN, width, height) for e in eyes))

    def points(self) -> np.ndarray:
        """Every polygon's points in one (GATE_POINTS, 2) array: outer, inner, then each eye."""
        return np.concatenate([self.outer, self.inner, *self.eyes]).astype(np.float32)


class FrameGate:
    """The frame-space step: lip line, mouth opening and eye openings at full resolution (host)."""

    def __init__(self) -> None:
        self._u8 = np.zeros((0,), np.uint8)
        self._lips = np.zeros((0,), np.float32)

    def _buf(self, h: int, w: int) -> np.ndarray:
        if self._u8.size < h * w:
            self._u8 = np.zeros((h * w,), np.uint8)
        return self._u8[: h * w].reshape(h, w)

    def _lip_buf(self, h: int, w: int) -> np.ndarray:
        if self._lips.size < h * w * 3:
            self._lips = np.zeros((h * w * 3,), np.float32)
        return self._lips[: h * w * 3].reshape(h, w, 3)

    def apply(self, delta: np.ndarray, frame: np.ndarray, origin: tuple[int, int], lips: np.ndarray,
              crop_to_frame: np.ndarray, landmarks: np.ndarray) -> None:
        """Gate one face's warped main layer ``delta`` ((h, w, 3) float32 over ``frame``, the (h, w, 3) uint8
        frame rectangle starting at ``origin`` (x, y)) in place, and put the lip layer (crop space, warped
        here) inside the lips."""
        ox, oy = origin
        h, w = delta.shape[:2]
        g = GateGeometry.of(landmarks, origin, w, h)
        x0, y0, x1, y1 = g.mouth_box
        if x1 > x0 and y1 > y0:
            bh, bw = y1 - y0, x1 - x0
            buf = self._buf(bh, bw)
            c_outer = coverage(buf, g.outer - (x0, y0))
            c_lips = c_outer * (1.0 - coverage(buf, g.inner - (x0, y0)))
            shifted = np.array(crop_to_frame, np.float64, copy=True)  # crop -> frame, moved to the box
            shifted[:, 2] -= (ox + x0, oy + y0)
            layer = cv2.warpAffine(lips, shifted, (bw, bh), dst=self._lip_buf(bh, bw), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            box = delta[y0:y1, x0:x1]
            box *= (1.0 - c_outer)[..., None]
            box += layer * c_lips[..., None]
            keep_lip_texture(box, frame[y0:y1, x0:x1], c_lips)
        for eye, (x0, y0, x1, y1) in zip(g.eyes, g.eye_boxes):
            if x1 > x0 and y1 > y0:
                delta[y0:y1, x0:x1] *= (1.0 - coverage(self._buf(y1 - y0, x1 - x0), eye - (x0, y0)))[..., None]
