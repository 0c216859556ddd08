"""Face-region masks from dense landmarks (FaceMesh topology), in aligned-crop space.

The face oval bounds the look; the mask is feathered *inwards* (distance transform), so it is 0 on
the oval itself and never reaches hair or background. The feather is narrow (:data:`FACE_FEATHER`):
the lower lip and the cheek apples lie within an eighth of the crop of the oval, and a wider ramp
faded exactly the makeup a look paints there (lips kept 89 % of the look, cheeks 73 %, on 135
held-out faces; at 0.06 they keep 99 % and 96 %). Lips, eyes and brows are separate regions a
look may weight differently.

A stylised look (an illustration) restyles the head, not only the face: its hair, ears and jaw line are
where an illustration reads at a glance. Its mask is the face oval's hull scaled about its centre
(:data:`HEAD_REACH`: hair, ears, the top of the neck), feathered wider (:data:`HEAD_FEATHER`) and faded out at
the crop's own border (:func:`crop_border`: the network only ever sees the crop, and its residual must not
end in a hard edge where the head is larger than the crop).
"""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.detect.topology import FACE_OVAL, LEFT_BROW, LEFT_EYE, LIPS, RIGHT_BROW, RIGHT_EYE

FACE_FEATHER = 0.06  # ramp width, as a fraction of the crop size (see the module docstring)
MAKEUP_FEATHER = 0.015  # for looks that paint regions inside the face only (livefilter.composite.placement)
HEAD_REACH = 1.45  # a stylised look's mask: the face oval scaled this much about its centre
HEAD_FEATHER = 0.10  # ... and its ramp width, as a fraction of the crop size
CROP_MARGIN = 0.08  # the ramp at the crop's border for a mask reaching past it (fraction of the crop size)
REGIONS = {"face": FACE_OVAL, "lips": LIPS, "left_eye": LEFT_EYE, "right_eye": RIGHT_EYE,
           "left_brow": LEFT_BROW, "right_brow": RIGHT_BROW}


def occluded_pixels(crop: np.ndarray, crop_pts: np.ndarray, masker: "LandmarkMasker", threshold: float = 3.5) -> np.ndarray:
    """Face pixels that do not look like this face's skin (a hand, a face mask, a microphone).

    A robust skin-colour model (median / MAD in Lab) is taken from the band between the brows and
    the lower eyelids, which occluders rarely cover; pixels of the face oval far from it are
    occluders and keep their original pixels. Lips may be redder than skin (not greyer/bluer), and
    eyes / brows are never tested. Lip pixels are also compared with the lips' own robust colour: lips
    are not always redder than the skin (on many darker skin tones they are as red and darker), and
    without that second model their lips counted as an occluder and never took a lip colour. A lip
    pixel is an occluder only when it is unlike both the skin and the lips. Returns a (S, S) bool mask.
    """
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    face = masker.region(crop_pts, "face").astype(bool)
    feats = np.zeros(face.shape, np.uint8)
    for name in ("left_eye", "right_eye", "left_brow", "right_brow"):
        feats |= masker.region(crop_pts, name)
    feat = cv2.dilate(feats, np.ones((5, 5), np.uint8)).astype(bool)
    lips = masker.region(crop_pts, "lips").astype(bool)
    rows = np.arange(face.shape[0])[:, None]
    top = crop_pts[[70, 300], 1].min()
    low = crop_pts[[145, 374], 1].max() + 3
    band = face & ~feat & (rows >= top) & (rows <= low)
    if band.sum() < 20:
        return np.zeros(face.shape, bool)
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]

    def robust(ch: np.ndarray, floor: float) -> tuple[float, float]:
        med = float(np.median(ch[band]))
        return med, 1.4826 * float(np.median(np.abs(ch[band] - med))) + floor

    (mL, sL), (ma, sa), (mb, sb) = robust(L, 8.0), robust(a, 1.0), robust(b, 1.0)
    d = np.sqrt(((a - ma) / sa) ** 2 + ((b - mb) / sb) ** 2 + 0.5 * ((L - mL) / sL) ** 2)
    d = np.where(lips & (a > ma), np.abs(b - mb) / sb, d)  # lipstick is not an occluder
    lip_px = lips & ~feat
    if lip_px.sum() >= 20:
        def lip_robust(ch: np.ndarray, floor: float) -> tuple[float, float]:
            med = float(np.median(ch[lip_px]))
            return med, 1.4826 * float(np.median(np.abs(ch[lip_px] - med))) + floor

        (lL, slL), (la, sla), (lb, slb) = lip_robust(L, 8.0), lip_robust(a, 2.0), lip_robust(b, 2.0)
        # ... only while the lips' colour could be lips at all: a mask or a hand over the whole mouth
        # would otherwise become "the lips" (8-bit Lab units: lips sit near the skin's hue, not far
        # bluer or greener, and are not much lighter than it)
        if abs(lb - mb) <= 20 and abs(la - ma) <= 30 and lL <= mL + 20:
            # only the lip pixels are compared (a few hundred, not the whole crop)
            d_lip = np.sqrt(((a[lips] - la) / sla) ** 2 + ((b[lips] - lb) / slb) ** 2
                            + 0.5 * ((L[lips] - lL) / slL) ** 2)
            d[lips] = np.minimum(d[lips], d_lip)
    occ = ((d > threshold) & face & ~feat).astype(np.uint8)
    occ = cv2.morphologyEx(occ, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    occ = cv2.morphologyEx(occ, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    return occ.astype(bool) & face & ~feat


def scaled_about_centre(pts: np.ndarray, reach: float) -> np.ndarray:
    """Points (..., K, 2) scaled by ``reach`` about their mean (the head's outline from the face oval's)."""
    centre = pts.mean(-2, keepdims=True)
    return centre + reach * (pts - centre)


def crop_border(size: int, margin: float = CROP_MARGIN) -> np.ndarray:
    """(S, S) float32 ramp: 0 on the crop's outermost pixels, 1 from ``margin * size`` pixels inside."""
    i = np.arange(size, dtype=np.float32)
    d = np.minimum(i, size - 1 - i)
    ramp = np.clip(d / max(1.0, margin * size), 0.0, 1.0)
    return np.minimum(ramp[:, None], ramp[None, :])


class LandmarkMasker:
    """Renders a feathered face-oval mask per face into a reused (S, S) buffer (``reach`` > 1: the head's)."""

    def __init__(self, size: int, feather: float = FACE_FEATHER, reach: float = 1.0) -> None:
        self.size = size
        self.feather_px = max(1.0, feather * size)
        self.reach = float(reach)
        self._border = crop_border(size) if self.reach != 1.0 else None
        self._hard = np.zeros((size, size), np.uint8)
        self._head = np.zeros((size, size), np.uint8)
        self._masks: list[np.ndarray] = []  # one reused buffer per face slot

    @property
    def cuts_occluders(self) -> bool:
        """Whether a hand or a mask in front of the face keeps its own pixels: a makeup look's mask does; an
        illustration (the head) restyles whatever is in front of the face too."""
        return self.reach == 1.0

    def region(self, crop_landmarks: np.ndarray, name: str = "face") -> np.ndarray:
        """Hard 0/1 polygon of one region, (S, S) uint8 (a view of an internal buffer)."""
        self._hard[:] = 0
        pts = np.round(crop_landmarks[list(REGIONS[name])] * 16).astype(np.int32)
        cv2.fillPoly(self._hard, [cv2.convexHull(pts)] if name == "face" else [pts], 1, cv2.LINE_8, 4)
        return self._hard

    def face(self, landmarks: np.ndarray, matrix: np.ndarray, slot: int = 0, crop: np.ndarray | None = None) -> np.ndarray:
        """Feathered face mask in crop space for frame ``landmarks`` (468, 2) and frame->crop ``matrix``.

        With the aligned ``crop``, occluders (hands, face masks) are cut out of the face's mask so they keep
        their own pixels (not out of the head's: :attr:`cuts_occluders`). Returns the buffer of face ``slot``
        (reused on the next frame).
        """
        while len(self._masks) <= slot:
            self._masks.append(np.zeros((self.size, self.size), np.float32))
        out = self._masks[slot]
        crop_pts = landmarks @ matrix[:, :2].T + matrix[:, 2]
        occluded = occluded_pixels(crop, crop_pts, self) if crop is not None and self.cuts_occluders else None
        if self._border is None:
            hard = self.region(crop_pts, "face")
        else:
            hard = self._head
            hard[:] = 0
            head = scaled_about_centre(crop_pts[list(FACE_OVAL)], self.reach)
            cv2.fillPoly(hard, [cv2.convexHull(np.round(head * 16).astype(np.int32))], 1, cv2.LINE_8, 4)
        if occluded is not None:
            hard[occluded] = 0
        # Distance (px) to the oval's edge, ramped over the feather width: 0 at the edge, 1 inside.
        dist = cv2.distanceTransform(hard, cv2.DIST_L2, 3)
        np.multiply(dist, 1.0 / self.feather_px, out=out)
        np.clip(out, 0.0, 1.0, out=out)
        if self._border is not None:
            np.multiply(out, self._border, out=out)
        return out


def head_masker(size: int) -> LandmarkMasker:
    """The mask of a stylised look (:data:`HEAD_REACH`, :data:`HEAD_FEATHER`) at crop ``size``."""
    return LandmarkMasker(size, HEAD_FEATHER, HEAD_REACH)
