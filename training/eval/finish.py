"""The skin finish, measured at full frame resolution (``livefilter eval``'s ``finish`` section).

Each photo's face is found by the runtime's own tracker, then finished at each strength by the host stage
alone (:class:`livefilter.finish.host.SkinFinish`; the look's network is not involved), and compared with
the input in regions rasterised from the frame landmarks:

* ``hf_reduction``: 1 - the output's band-pass energy of CIELAB L over the skin of the cheeks and forehead
  (pixels of the cheeks' colour: :func:`skin_coloured`) over the input's; the band is a difference of Gaussians from :data:`BAND` (fractions of the face width: from a
  blemish's size to the finest texture a 720p camera resolves). Strength 1 must take away >= 40 %.
* ``skin_delta_l`` / ``skin_delta_a`` / ``skin_delta_b``: the signed mean change of the skin between the
  features (no whitening, no colour cast: |ΔL| <= 1, |Δa|, |Δb| <= 1.5).
* ``eyes_kept`` / ``brows_kept`` / ``lips_kept`` / ``beard_kept``: gradient energy (Sobel of L) output over
  input (>= 0.9). The beard is the lower face's hair (:func:`beard_region`; faces where it covers less than
  :data:`MIN_BEARD_SHARE` of the oval have none).
* ``seam``: gradient energy of L in a 5-px band on the face oval, output over input (1.0: no edge added at
  the face's edge; the finish fades out well inside it).
* identity (FaceNet on the aligned crops before and after) and, on a video, the flicker ratio.

Everything is split by skin-tone group (ITA° of the input's skin: lighter, darker).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from livefilter.finish.host import SkinFinish
from livefilter.finish.settings import FinishSettings
from livefilter.looks.region_stats import ita_group, to_lab
from livefilter.detect.topology import BROWS, CHEEK_APPLE, FACE_OVAL, FOREHEAD, LIPS, LOWER_LID, UPPER_LID
from training.eval.placement import frame_regions
from training.eval.regions import DARKER, LIGHTER

BAND = (1 / 256, 1 / 32)  # the band-pass's two Gaussian sigmas, as fractions of the face width
BEARD_DARKER = 10.0  # L below the cheeks' median ...
BEARD_TEXTURE = 2.5  # ... and local L spread over the cheeks': the lower face's hair
MIN_BEARD_SHARE = 0.03  # a beard covers at least this share of the face oval
SKIN_AB, SKIN_DARKER = 10.0, 20.0  # the skin whose texture is measured: the cheeks' colour (a, b) and lightness
STRENGTHS = (0.5, 1.0)
MEASURES = ("hf_reduction", "skin_delta_l", "skin_delta_a", "skin_delta_b", "eyes_kept", "brows_kept", "lips_kept",
            "beard_kept", "seam")
#: the issue's targets: measure -> test of its mean over faces (None: not measured)
TARGETS = {
    "skin_delta_l": lambda v: abs(v) <= 1.0,
    "skin_delta_a": lambda v: abs(v) <= 1.5,
    "skin_delta_b": lambda v: abs(v) <= 1.5,
    "eyes_kept": lambda v: v >= 0.9,
    "brows_kept": lambda v: v >= 0.9,
    "lips_kept": lambda v: v >= 0.9,
    "beard_kept": lambda v: v >= 0.9,
    "seam": lambda v: v <= 1.05,
}


def _fill(shape: tuple[int, int], polys: list[np.ndarray]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(p * 16).astype(np.int32) for p in polys], 1, cv2.LINE_8, 4)
    return m


def _disk(px: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))


def _grow(m: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(m, _disk(px)) if px > 0 else m


def _shrink(m: np.ndarray, px: int) -> np.ndarray:
    return cv2.erode(m, _disk(px)) if px > 0 else m


def finish_regions(lm: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Hard (H, W) uint8 measuring regions of one face from its (468, 2) frame landmarks."""
    lm = np.asarray(lm, np.float64)[:, :2]
    reg = frame_regions(lm, shape)
    fw = float(np.linalg.norm(lm[234] - lm[454]))
    k = max(1, round(0.01 * fw))
    oval = _fill(shape, [cv2.convexHull(lm[list(FACE_OVAL)].astype(np.float32))[:, 0]])
    inner = _shrink(oval, max(2, round(0.05 * fw)))
    forehead = _fill(shape, [cv2.convexHull(lm[list(FOREHEAD)].astype(np.float32))[:, 0]])
    brows = _fill(shape, [lm[list(BROWS[0])], lm[list(BROWS[1])]])
    eyes = _fill(shape, [np.concatenate([lm[list(UPPER_LID[s])], lm[list(LOWER_LID[s])][::-1]]) for s in (0, 1)])
    lips = _fill(shape, [lm[list(LIPS)]])
    cheeks = np.zeros(shape, np.uint8)
    for side in (0, 1):
        c = lm[list(CHEEK_APPLE[side])].mean(0)
        cv2.circle(cheeks, (int(round(c[0] * 16)), int(round(c[1] * 16))), int(round(0.1 * fw * 16)), 1, -1,
                   cv2.LINE_8, 4)
    features = _grow(np.clip(eyes + brows + lips, 0, 1), max(2, round(0.04 * fw)))
    nose_y = lm[2, 1]
    lower = inner.copy()
    lower[: int(max(0, nose_y))] = 0
    return {"texture": (cheeks | forehead) * inner * (1 - features), "skin": reg["skin"],
            "eyes": _grow(eyes, k), "brows": _grow(brows, k), "lips": _shrink(lips, k) * (1 - reg["mouth"]),
            "lower_face": lower * (1 - _grow(lips, k)), "oval": oval, "cheeks": cheeks * inner * (1 - features)}


def beard_region(L: np.ndarray, reg: dict[str, np.ndarray], face_w: float) -> np.ndarray:
    """The lower face's hair in the input: chin, jaw and upper-lip pixels darker than the cheeks by
    :data:`BEARD_DARKER` L *and* textured (local L spread :data:`BEARD_TEXTURE` times the cheeks'), so the
    skin's own shading under the lip and the jaw does not count."""
    r = max(1, round(0.015 * face_w))
    m1 = cv2.blur(L, (2 * r + 1, 2 * r + 1))
    spread = np.sqrt(np.maximum(cv2.blur(L * L, (2 * r + 1, 2 * r + 1)) - m1 * m1, 0))
    cheeks = reg["cheeks"].astype(bool)
    if cheeks.sum() < 16:
        return np.zeros_like(reg["lower_face"])
    dark = L < np.median(L[cheeks]) - BEARD_DARKER
    textured = spread > BEARD_TEXTURE * np.median(spread[cheeks])
    return reg["lower_face"] * dark * textured


def skin_coloured(lab: np.ndarray, cheeks: np.ndarray) -> np.ndarray:
    """Pixels whose input colour is the cheeks' (a fringe of hair, a cap's brim or glasses over the forehead
    or cheeks are not skin): a and b within :data:`SKIN_AB` of the cheeks' medians, L not darker than theirs
    by more than :data:`SKIN_DARKER`."""
    m = cheeks.astype(bool)
    if m.sum() < 16:
        return np.ones(lab.shape[:2], np.uint8)
    med = np.median(lab[m], 0)
    return ((np.abs(lab[..., 1] - med[1]) < SKIN_AB) & (np.abs(lab[..., 2] - med[2]) < SKIN_AB)
            & (lab[..., 0] > med[0] - SKIN_DARKER)).astype(np.uint8)


def band_energy(L: np.ndarray, mask: np.ndarray, face_w: float) -> float:
    s1, s2 = (max(0.5, b * face_w) for b in BAND)
    dog = cv2.GaussianBlur(L, (0, 0), s1) - cv2.GaussianBlur(L, (0, 0), s2)
    m = mask.astype(bool)
    return float((dog[m] ** 2).mean()) if m.sum() >= 16 else float("nan")


def gradient_energy(L: np.ndarray, mask: np.ndarray) -> float:
    m = mask.astype(bool)
    if m.sum() < 16:
        return float("nan")
    g = cv2.Sobel(L, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(L, cv2.CV_32F, 0, 1) ** 2
    return float(g[m].mean())


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 1e-6 else float("nan")


@dataclass
class FaceFinish:
    """The finish measures of one face at one strength (NaN where a measure does not apply)."""

    values: dict[str, float]
    skin_group: str
    crops: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)


def face_finish(before: np.ndarray, after: np.ndarray, lm: np.ndarray) -> FaceFinish:
    """Measures of one face between an input frame and its finished output (both (H, W, 3) uint8 RGB)."""
    pts = np.asarray(lm, np.float64)[:, :2]
    span = np.ptp(pts, 0)
    x0, y0 = np.floor(pts.min(0) - 0.3 * span).astype(int).clip(0)
    x1, y1 = np.ceil(pts.max(0) + 0.3 * span).astype(int)
    b, a = before[y0:y1, x0:x1], after[y0:y1, x0:x1]
    pts = pts - (x0, y0)
    reg = finish_regions(pts, b.shape[:2])
    lab0, lab1 = to_lab(b), to_lab(a)
    fw = float(np.linalg.norm(pts[234] - pts[454]))
    L0, L1 = lab0[..., 0], lab1[..., 0]
    skin = reg["skin"].astype(bool)
    d = (lab1 - lab0)[skin].mean(0) if skin.sum() >= 16 else np.full(3, np.nan)
    texture = reg["texture"] * skin_coloured(lab0, reg["cheeks"])
    v = {"hf_reduction": 1.0 - _ratio(band_energy(L1, texture, fw), band_energy(L0, texture, fw)),
         "skin_delta_l": float(d[0]), "skin_delta_a": float(d[1]), "skin_delta_b": float(d[2])}
    for name in ("eyes", "brows", "lips"):
        v[f"{name}_kept"] = _ratio(gradient_energy(L1, reg[name]), gradient_energy(L0, reg[name]))
    beard = beard_region(L0, reg, fw)
    v["beard_kept"] = (_ratio(gradient_energy(L1, beard), gradient_energy(L0, beard))
                       if beard.sum() >= MIN_BEARD_SHARE * reg["oval"].sum() else float("nan"))
    edge = _grow(reg["oval"], 2) - _shrink(reg["oval"], 2)
    v["seam"] = _ratio(gradient_energy(L1, edge), gradient_energy(L0, edge))
    skin_lab = lab0[skin].mean(0) if skin.sum() >= 16 else np.full(3, np.nan)
    return FaceFinish(v, ita_group(skin_lab))


def _stat(faces: list[FaceFinish], key: str) -> dict:
    vals = np.array([f.values[key] for f in faces], np.float64)
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return {"mean": None, "min": None, "max": None, "n": 0}
    return {"mean": round(float(vals.mean()), 3), "min": round(float(vals.min()), 3),
            "max": round(float(vals.max()), 3), "n": int(len(vals))}


def summarise(faces: list[FaceFinish]) -> dict:
    """Means over faces per measure, per skin-tone group, identity, and the targets met."""
    out: dict = {"faces": len(faces), "all": {k: _stat(faces, k) for k in MEASURES}}
    for name, members in (("lighter", LIGHTER), ("darker", DARKER)):
        sel = [f for f in faces if f.skin_group in members]
        out[name] = {"faces": len(sel)} | {k: _stat(sel, k) for k in MEASURES}
    from training.eval.placement import identity_of

    out["identity"] = identity_of(faces)
    return out


def verdict(summary: dict, strength: float) -> dict[str, bool]:
    """Which targets a strength's summary meets, per group (hf_reduction: >= 40 % at strength 1, in proportion
    below; identity: every face the same person, when measured)."""
    out: dict[str, bool] = {}
    for group in ("lighter", "darker"):
        stats = summary[group]
        for key, test in TARGETS.items():
            m = stats[key]["mean"]
            if m is not None:
                out[f"{group}:{key}"] = bool(test(m))
        m = stats["hf_reduction"]["mean"]
        if m is not None:
            out[f"{group}:hf_reduction"] = bool(m >= 0.4 * strength)
    ident = summary.get("identity", {})
    if ident.get("measured"):
        out["same_person"] = bool(ident["same_person_rate"] >= 0.99)
    return out


def _tracker():
    from livefilter.detect import TrackerConfig, create_tracker

    return create_tracker(TrackerConfig(detect_every=1, max_faces=1))


def photo_faces(photos: list[np.ndarray]) -> list:
    """(photo, face) of each photo's largest face with landmarks (photos without one are left out)."""
    tracker, found = _tracker(), []
    for img in photos:
        tracker.reset()
        faces = [f for f in tracker.update(img) if f.landmarks is not None]
        if faces:
            found.append((img, max(faces, key=lambda f: f.area)))
    return found


def measure_photos(photos: list[np.ndarray], strengths=STRENGTHS, under_eye: float = 0.0) -> dict:
    """The finish summary of every photo's face at each strength."""
    from livefilter.align.host import Aligner

    aligner, stage = Aligner(160, 0.25), SkinFinish()
    faces = photo_faces(photos)
    report: dict = {}
    for s in strengths:
        found = []
        for img, face in faces:
            out = img.copy()
            stage.apply(out, [face.landmarks], FinishSettings(s, under_eye))
            f = face_finish(img, out, face.landmarks)
            f.crops = (aligner.crop(img, face), aligner.crop(out, face))
            found.append(f)
        summary = summarise(found)
        summary["targets"] = verdict(summary, s)
        report[f"{s:g}"] = summary
    return report


def measure_video(frames: list[np.ndarray], strengths=STRENGTHS) -> dict:
    """Flicker ratios (plain and motion-compensated) of the finished face region on a video, tracked as in a
    live run, per strength."""
    from training.eval.metrics import flicker_ratio, warped_flicker_ratio

    tracker = _tracker()
    marks = []
    for img in frames:
        faces = [f for f in tracker.update(img) if f.landmarks is not None]
        marks.append(max(faces, key=lambda f: f.area).landmarks if faces else None)
    region = np.zeros(frames[0].shape[:2], np.float32)
    for lm in marks:
        if lm is not None:
            region = np.maximum(region, _fill(region.shape, [cv2.convexHull(lm[list(FACE_OVAL)].astype(np.float32))[:, 0]]))
    out: dict = {"frames": len(frames)}
    stage = SkinFinish()
    for s in strengths:
        outs = []
        for img, lm in zip(frames, marks):
            o = img.copy()
            if lm is not None:
                stage.apply(o, [lm], FinishSettings(s))
            outs.append(o)
        out[f"{s:g}"] = {"flicker_ratio": round(flicker_ratio(frames, outs, region), 3),
                         "warped_flicker_ratio": round(warped_flicker_ratio(frames, outs, region), 3)}
    return out
