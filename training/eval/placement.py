"""Where a look's makeup lands, measured at full frame resolution (``livefilter eval``'s placement section).

A makeup artist's rules, measured on the output frame against the input frame, in regions rasterised
at full resolution from the face's FaceMesh landmarks in frame pixels:

* ``inner_mouth_delta_e``: mean CIE76 ΔE inside the mouth opening (teeth, tongue), on faces whose mouth
  is open (at least :data:`MIN_MOUTH_PX` pixels inside the inner lip contour). Lipstick never goes there.
* ``spill``: mean ΔE in a thin band just outside the outer lip contour (:data:`BAND` of the mouth width),
  less the mean ΔE of the skin just beyond it (what a foundation or a paint look does to all the skin
  there), divided by the mean ΔE on the lips: the lip colour that bled past the lip line. A lipstick
  filled exactly inside the lip line scores about 0.05 (the landmarks' own error), a blurred fill 0.5.
* ``under_eye_delta_l``: mean signed ΔL in the band below the lower lash line (both eyes).
* ``lid_asymmetry`` / ``cheek_asymmetry``: |ΔE left - ΔE right| / their mean, ΔE between each side's
  mean colour before and after (the makeup's colour there), on near-frontal faces
  (both eye-to-nose distances within :data:`FRONTAL_RATIO` of each other, about ±25° yaw) whose two
  sides are lit alike (input L within :data:`EVEN_LIGHT`: under one-sided light the same makeup changes
  the shaded side's Lab differently), where the look visibly changes that region (a just-noticeable ΔE, 2.3, on average).
* ``lip_texture``: Laplacian energy of L inside the lips, output / input (1.0: the lips' own lines and
  sheen kept; a flat fill drives it towards 0, added noise above 1).
* ``stray_colour``: the 95th percentile of ΔE on the skin between the features (forehead, nose, chin, the
  skin round the mouth beyond the spill band): colour a look left where no makeup region is, in patches.
  ``spill`` compares the band with the skin just beyond it, so a broad smear that covers both, or a
  blotch on the forehead, reads as no spill; this reads it, and a high percentile (not the mean) keeps a
  blotch from being averaged away over the whole face. A look that paints the skin (a foundation,
  contour) changes it on purpose, so it is a measure to compare two versions of one look, not a target.
* ``lips_delta_e`` and ``skin_delta_l`` (the skin between the features), per skin-tone group (ITA°).

Faces come from the pipeline itself (``Pipeline.last_faces``: the landmarks it styled with, in frame
pixels), so the measure needs nothing but the look and the frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.looks.region_stats import ita_group, to_lab
from livefilter.detect.topology import BROWS, BROW_LOWER, CHEEK_APPLE, FACE_OVAL, LIPS, LIPS_INNER, LOWER_LID, UPPER_LID
from livefilter.composite.regions import resample
from training.eval.regions import DARKER, LIGHTER

MIN_MOUTH_PX = 40  # an open mouth: this many pixels inside the inner lip contour (after a 1-px erosion)
BAND = 0.06  # the spill band's width, as a fraction of the mouth width
UNDER_EYE = 0.3  # the under-eye band's height, as a fraction of the eye width
VIDEO_FPS = 30.0  # the frame rate a clip's landmarks are smoothed at where it does not give its own
FRONTAL_RATIO = 0.6  # the nearer eye-to-nose distance over the further one, for "near-frontal"
EVEN_LIGHT = 10.0  # both sides' input lightness (L) within this: lit alike (the same makeup reads darker in shade)
MIN_CHANGE = 1.0  # lips changed by less than this mean ΔE have no spill to speak of
JND = 2.3  # a just-noticeable colour difference: a region changed by less has no asymmetry to speak of
MEASURES = ("inner_mouth_delta_e", "spill", "under_eye_delta_l", "lid_asymmetry", "cheek_asymmetry", "lip_texture",
            "lips_delta_e", "skin_delta_l", "stray_colour")


def _fill(shape: tuple[int, int], polys: list[np.ndarray]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(p * 16).astype(np.int32) for p in polys], 1, cv2.LINE_8, 4)
    return m


def _grow(m: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))) if px > 0 else m


def _shrink(m: np.ndarray, px: int) -> np.ndarray:
    return cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))) if px > 0 else m


def _down(lm: np.ndarray) -> np.ndarray:
    """The face's own downward unit vector (eyes' midpoint towards the mouth)."""
    v = lm[list(LIPS)].mean(0) - (lm[33] + lm[263]) / 2
    return v / max(float(np.linalg.norm(v)), 1e-6)


def frame_regions(lm: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Hard (H, W) uint8 measuring regions of one face from its (468, 2) landmarks in frame pixels."""
    lm = np.asarray(lm, np.float64)[:, :2]
    mouth_w = float(np.linalg.norm(lm[61] - lm[291]))
    k = max(1, round(0.02 * mouth_w))
    outer, inner = _fill(shape, [lm[list(LIPS)]]), _fill(shape, [lm[list(LIPS_INNER)]])
    regions = {"lips": _shrink(outer * (1 - _grow(inner, k)), k), "mouth": _shrink(inner, k)}
    band = max(2, round(BAND * mouth_w))
    eyes = np.zeros(shape, np.uint8)
    down = _down(lm)
    sides = {}
    for side, name in ((0, "left"), (1, "right")):
        lid, low = lm[list(UPPER_LID[side])], lm[list(LOWER_LID[side])]
        eye = _fill(shape, [np.concatenate([lid, low[::-1]])])
        eyes |= eye
        eye_w = float(np.linalg.norm(lid[0] - lid[-1]))
        under = _fill(shape, [np.concatenate([low, (low + UNDER_EYE * eye_w * down)[::-1]])])
        brow_line = resample(lm[list(BROW_LOWER[side])], len(lid))  # outer to inner, as the lid
        lid_band = _fill(shape, [np.concatenate([lid, (lid + 0.6 * (brow_line - lid))[::-1]])])
        face_w = float(np.linalg.norm(lm[234] - lm[454]))
        cheek = np.zeros(shape, np.uint8)
        c = lm[list(CHEEK_APPLE[side])].mean(0)
        cv2.circle(cheek, (int(round(c[0] * 16)), int(round(c[1] * 16))), int(round(0.08 * face_w * 16)), 1, -1,
                   cv2.LINE_8, 4)
        sides[name] = (under, lid_band, cheek)
    grown_eyes = _grow(eyes, k + 1)
    for name, (under, lid_band, cheek) in sides.items():
        regions[f"under_eye_{name}"] = under * (1 - grown_eyes)
        regions[f"lid_{name}"] = lid_band * (1 - grown_eyes)
        regions[f"cheek_{name}"] = cheek
    regions["band"] = _grow(outer, band + k) * (1 - _grow(outer, k)) * (1 - grown_eyes)
    # the skin just beyond the band: what the look does to the skin around the mouth anyway
    regions["ring"] = _grow(outer, 3 * band + k) * (1 - _grow(outer, 2 * band + k)) * (1 - grown_eyes)
    oval = _shrink(_fill(shape, [cv2.convexHull(lm[list(FACE_OVAL)].astype(np.float32))[:, 0]]),
                   max(2, round(0.05 * float(np.linalg.norm(lm[234] - lm[454])))))
    features = _grow(np.clip(outer + eyes + _fill(shape, [lm[list(BROWS[0])], lm[list(BROWS[1])]]), 0, 1),
                     max(3, round(0.08 * mouth_w)))
    skin = oval * (1 - features)
    for name in ("under_eye_left", "under_eye_right", "lid_left", "lid_right", "cheek_left", "cheek_right"):
        skin = skin * (1 - _grow(regions[name], k))
    regions["skin"] = skin
    return regions


def is_frontal(lm: np.ndarray) -> bool:
    a, b = (float(np.linalg.norm(lm[1, :2] - lm[i, :2])) for i in (33, 263))
    return min(a, b) / max(a, b, 1e-6) >= FRONTAL_RATIO


def _mean(values: np.ndarray, mask: np.ndarray, minimum: int = 8) -> float:
    m = mask.astype(bool)
    return float(values[m].mean()) if m.sum() >= minimum else float("nan")


def _percentile(values: np.ndarray, mask: np.ndarray, q: float, minimum: int = 8) -> float:
    m = mask.astype(bool)
    return float(np.percentile(values[m], q)) if m.sum() >= minimum else float("nan")


def _asymmetry(left: float, right: float) -> float:
    mean = (left + right) / 2
    if not (math.isfinite(left) and math.isfinite(right)) or mean < JND:
        return float("nan")
    return abs(left - right) / mean


def _colour_change(lab0: np.ndarray, lab1: np.ndarray, mask: np.ndarray) -> float:
    """ΔE between a region's mean colour before and after: the makeup's colour on it (the pixels' own
    texture changes, e.g. from smoothing, do not count)."""
    m = mask.astype(bool)
    if m.sum() < 8:
        return float("nan")
    return float(np.linalg.norm(lab1[m].mean(0) - lab0[m].mean(0)))


def _laplacian_energy(L: np.ndarray, mask: np.ndarray) -> float:
    lap = cv2.Laplacian(L, cv2.CV_32F, ksize=3)
    return _mean(lap * lap, _shrink(mask, 1))


@dataclass
class FacePlacement:
    """The placement measures of one face in one frame (NaN where a measure does not apply)."""

    values: dict[str, float]
    skin_group: str
    crops: tuple[np.ndarray, np.ndarray] | None = None  # aligned crops before / after (identity)


def face_placement(before: np.ndarray, after: np.ndarray, lm: np.ndarray) -> FacePlacement:
    """Measures of one face between an input frame and its styled output (both (H, W, 3) uint8 RGB)."""
    x0, y0 = np.floor(lm[:, :2].min(0) - 0.3 * np.ptp(lm[:, :2], 0)).astype(int).clip(0)
    x1, y1 = np.ceil(lm[:, :2].max(0) + 0.3 * np.ptp(lm[:, :2], 0)).astype(int)
    x1, y1 = min(x1, before.shape[1]), min(y1, before.shape[0])
    b, a = before[y0:y1, x0:x1], after[y0:y1, x0:x1]
    pts = np.asarray(lm[:, :2], np.float64) - (x0, y0)
    reg = frame_regions(pts, b.shape[:2])
    lab0, lab1 = to_lab(b), to_lab(a)
    d = lab1 - lab0
    de, dl = np.sqrt((d ** 2).sum(-1)), d[..., 0]
    lips = _mean(de, reg["lips"])
    v = {"lips_delta_e": lips,
         "inner_mouth_delta_e": _mean(de, reg["mouth"], MIN_MOUTH_PX) if reg["mouth"].sum() >= MIN_MOUTH_PX
         else float("nan"),
         "spill": max(0.0, _mean(de, reg["band"]) - _mean(de, reg["ring"])) / lips if lips >= MIN_CHANGE
         else float("nan"),
         "under_eye_delta_l": _mean(dl, reg["under_eye_left"] | reg["under_eye_right"]),
         "skin_delta_l": _mean(dl, reg["skin"]), "stray_colour": _percentile(de, reg["skin"], 95)}
    frontal = is_frontal(pts)
    for part in ("lid", "cheek"):
        left, right = (_colour_change(lab0, lab1, reg[f"{part}_{side}"]) for side in ("left", "right"))
        lit_alike = abs(_mean(lab0[..., 0], reg[f"{part}_left"]) - _mean(lab0[..., 0], reg[f"{part}_right"])) <= EVEN_LIGHT
        v[f"{part}_asymmetry"] = _asymmetry(left, right) if frontal and lit_alike else float("nan")
    e0 = _laplacian_energy(lab0[..., 0], reg["lips"])
    v["lip_texture"] = _laplacian_energy(lab1[..., 0], reg["lips"]) / e0 if e0 > 1e-3 else float("nan")
    skin_lab = lab0[reg["skin"].astype(bool)].mean(0) if reg["skin"].sum() >= 8 else np.full(3, np.nan)
    return FacePlacement(v, ita_group(skin_lab))


def summarise(faces: list[FacePlacement]) -> dict:
    """Means over faces (NaN-aware, with how many faces each mean is over), per skin-tone group, and
    identity (FaceNet, when installed)."""
    def stat(key: str, sel: list[FacePlacement], absolute: bool = False) -> dict:
        vals = np.array([f.values[key] for f in sel], np.float64)
        vals = vals[np.isfinite(vals)]
        if absolute:
            vals = np.abs(vals)
        return {"mean": round(float(vals.mean()), 3) if len(vals) else None,
                "max": round(float(vals.max()), 3) if len(vals) else None, "n": int(len(vals))}

    out: dict = {"faces": len(faces)}
    for key in MEASURES:
        out[key] = stat(key, faces)
    out["under_eye_abs_delta_l"] = stat("under_eye_delta_l", faces, absolute=True)
    groups = {}
    for name, members in (("lighter", LIGHTER), ("darker", DARKER)):
        sel = [f for f in faces if f.skin_group in members]
        groups[name] = {"faces": len(sel), "lips_delta_e": stat("lips_delta_e", sel)["mean"],
                        "skin_abs_delta_l": stat("skin_delta_l", sel, absolute=True)["mean"],
                        "inner_mouth_delta_e": stat("inner_mouth_delta_e", sel)["mean"],
                        "spill": stat("spill", sel)["mean"]}
    out["skin_tone"] = groups
    out["identity"] = identity_of(faces)
    return out


#: the issue's targets: measure -> (statistic, limit test)
TARGETS = {
    "inner_mouth_delta_e": lambda s: s["mean"] is None or s["mean"] < 2.0,
    "spill": lambda s: s["mean"] is None or s["mean"] < 0.12,
    "under_eye_abs_delta_l": lambda s: s["mean"] is None or s["mean"] < 1.0,
    "lid_asymmetry": lambda s: s["mean"] is None or s["mean"] < 0.25,
    "cheek_asymmetry": lambda s: s["mean"] is None or s["mean"] < 0.25,
    "lip_texture": lambda s: s["mean"] is None or 0.8 <= s["mean"] <= 1.2,
}


def verdict(summary: dict) -> dict[str, bool]:
    """Which placement targets a summary meets (identity: every face the same person, when measured)."""
    out = {k: bool(test(summary[k])) for k, test in TARGETS.items()}
    ident = summary.get("identity", {})
    if ident.get("measured"):
        out["same_person"] = bool(ident["same_person_rate"] >= 0.99)
    return out


# -- running a look over photos and a video ----------------------------------------------------------
def host_pipeline(look, size: str = "cpu", max_faces: int = 4, temporal: float = 0.0, registry=None,
                  placement: bool = True, fps: float | None = VIDEO_FPS):
    """A host pipeline (onnxruntime on the CPU) running ``look`` (a name or a :class:`Look`) at its CPU or GPU
    input size, so the GPU size's placement is measured on any machine (the network is the same, the crops
    larger). ``placement=False``: the residual as it was before the placement (for before/after tables).
    ``fps``: the landmarks are smoothed over media time at this frame rate, so a clip measures the same on a
    busy machine as on an idle one (None: over wall-clock time, as a live camera)."""
    from livefilter.looks.registry import LookRegistry
    from livefilter.pipeline.host import LiveControls, Pipeline
    from livefilter.pipeline.session import PipelineSettings, make_tracker, make_translator

    if size not in ("cpu", "gpu"):
        raise ValueError(f"size must be cpu or gpu, got {size!r}")
    registry = registry or LookRegistry()
    look = (registry.get(look) if isinstance(look, str) else look).sized_for(size == "gpu")
    settings = PipelineSettings(look=look.name, max_faces=max_faces, detect_every=1, backend="onnxruntime-cpu",
                                tracker_fps=fps)
    controls = LiveControls(look=look.name, strength=look.default_strength, edits=look.edits)
    return Pipeline(make_tracker(settings), lambda name: look if name == look.name else registry.get(name),
                    lambda lk: make_translator(lk, "onnxruntime-cpu", max_faces), controls, max_faces=max_faces,
                    temporal=temporal, placement=placement)


def mosaic(images: list[np.ndarray], cell: int) -> np.ndarray:
    """A 2x2 grid of photos, each letterboxed into a ``cell`` square: four faces in one frame."""
    out = np.zeros((2 * cell, 2 * cell, 3), np.uint8)
    for i, img in enumerate(images[:4]):
        h, w = img.shape[:2]
        s = cell / max(h, w)
        small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        y, x = (i // 2) * cell + (cell - small.shape[0]) // 2, (i % 2) * cell + (cell - small.shape[1]) // 2
        out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def run_frames(pipeline, frames, reset_between: bool) -> list[FacePlacement]:
    """Every face of every frame through ``pipeline``, measured against its input (with each face's aligned
    crops before and after, for the identity measure)."""
    from livefilter.align.host import Aligner

    aligner = Aligner(160, 0.25)
    found = []
    for frame in frames:
        if reset_between:
            pipeline.tracker.reset()
        out = pipeline.process(frame.copy())
        for face in pipeline.last_faces:
            if face.landmarks is not None:
                placed = face_placement(frame, out, face.landmarks)
                placed.crops = (aligner.crop(frame, face), aligner.crop(out, face))
                found.append(placed)
    return found


def identity_of(faces: list[FacePlacement]) -> dict:
    """FaceNet on each face's aligned crops before and after the look (:mod:`training.eval.identity`)."""
    from training.eval import identity

    pairs = [f.crops for f in faces if f.crops is not None]
    reason = identity.unavailable_reason()
    if reason is not None or not pairs:
        return identity.not_measured(reason or "no faces")
    return identity.compare(identity.embed(np.stack([a for a, _ in pairs])), identity.embed(np.stack([b for _, b in pairs])))


def read_photos(paths: list) -> list[np.ndarray]:
    from livefilter.demo.clip import load_rgb

    return [load_rgb(p) for p in paths]


def video_rate(path) -> float:
    """A clip's frame rate (its video stream's average rate; :data:`VIDEO_FPS` where the file does not say)."""
    import av

    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate
    return float(rate) if rate else VIDEO_FPS


def read_video(path, frames: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), c.decode(video=0))]


def measure_look(look, photos: list[np.ndarray], video: list[np.ndarray] | None = None,
                 sizes: tuple[str, ...] = ("cpu", "gpu"), four_faces: bool = True, registry=None,
                 placement: bool = True, video_fps: float = VIDEO_FPS) -> dict:
    """The placement summary of one look (a name or a :class:`Look`): photos (one face per frame, and four
    per frame in 2x2 mosaics), and a talking video (frame by frame, tracked as in a live run, its landmarks
    smoothed over the clip's own time at ``video_fps``), at each input size; each summary with the targets it
    meets (``targets``)."""
    report: dict = {}
    for size in sizes:
        p = host_pipeline(look, size, registry=registry, placement=placement, fps=video_fps)
        entry = {"photos": summarise(run_frames(p, photos, reset_between=True))}
        if four_faces and len(photos) >= 4:
            cell = max(max(img.shape[:2]) for img in photos[:4])
            grids = [mosaic(photos[i:i + 4], cell) for i in range(0, len(photos) - 3, 4)]
            entry["photos_4_faces"] = summarise(run_frames(p, grids, reset_between=True))
        if video:
            p.tracker.reset()
            entry["video"] = summarise(run_frames(p, video, reset_between=False))
        for summary in entry.values():
            summary["targets"] = verdict(summary)
        report[size] = entry
    return report
