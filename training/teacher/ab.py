"""A/B of two look sets on the same eval faces: renderer-distilled vs teacher-distilled students.

    python -m training.teacher.ab --a livefilter/looks --b runs/teacher-family --out training/teacher_ab

``--a`` / ``--b``: a folder of look packs (as ``livefilter family publish`` writes them; every subfolder
with a ``look.json``) or a trained family run (a folder with ``family_student.safetensors`` and
``family.json``: published into a scratch folder first, with ``training.makeup.publish``). Both arms are
measured on the same faces: the whole eval folders (``training.makeup.dataset.EVAL_FOLDERS``, never in
any training run), aligned at 256 px (the GPU input size), the same ``--faces`` of them for every look,
each styled through the runtime's whole composite as a viewer sees it (the makeup placed by region, the lip
line and the openings exact, the lips' detail kept; ``training.eval.look_effect.apply_look`` with
``placement``), not the bare network under the face oval; the placement on the same photos, the flicker on
the same clip. Per look of both arms (same name):

* reference distances (lips, eyelids, cheeks; ``training.eval.regions.reference_distance``) after / before
  as a ratio, and the *offset* ratio: the distance of the faces' MEAN descriptors to the references
  (what one look can move: the per-face spread of lid lightness is not makeup, see
  ``training/teacher/LIDS.md``);
* the same for looks created from the honlan and ybeauty photo sets through ``LookCreator`` (no
  finetune), each arm's own student;
* the placement measures (``training.eval.placement``: inner-mouth ΔE, spill, under-eye |ΔL|, lid /
  cheek asymmetry, lip texture, stray colour off the features) through the host pipeline at the CPU size;
* skin |ΔL| per skin-tone group (ITA°), FaceNet same-person rate, flicker on a real clip
  (``training.eval.stability``, temporal 0.5 as ``run``): the warped flicker ratio (motion-compensated: a
  makeup that moves with the face is not flicker) decides the row; the plain frame change ratio, which also
  counts the makeup's own motion (a deeper lipstick moving with the mouth changes more pixels), is shown
  beside it without a verdict;
* realism: KID (``training.teacher.kid``) of lip and eye patches of the styled faces against the same
  patches of real makeup photos (``faces/makeup_*/makeup``), with the unstyled faces' KID as the
  "no makeup" anchor.

Every row with a verdict gets its sampling spread (``training.teacher.halves``): the same row on 200 random
halves of the eval faces (and of the real makeup faces, the placement's faces, the clip's blocks of five
consecutive frame pairs), the same half for both arms; a difference beyond 1.96 of those standard errors is
*sure*.

B ships (``ship``) when no row is A's beyond the spread (a row A wins without a spread counts against B) and
B wins an eyelids row and a KID row beyond it: at least as good on every measure, better on lid fidelity and
realism.

Writes ``OUT.json`` (everything), ``OUT.md`` (the counts, the ship rule's answer with its reasons, and a table:
measure, A, B, which is better, sure) and ``OUT.png``
(two darker and two lighter eval skins: input | A | B, with the lips and eyes at full resolution).
A look set compared with itself gives equal numbers everywhere (the test of this script).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import typer

from livefilter.cli import main
from livefilter.cli.common import default_data, out
from livefilter.errors import InputError, LivefilterError
from livefilter.looks.schema import shown
from livefilter.looks.pack import Look, load_look
from training.teacher import halves as H
from training.teacher.halves import Selection, Stat

log = logging.getLogger(__name__)

SIZE = 256
HALF_SUBSETS = 20  # KID subsets on each half-sample (the full estimate takes 100)
FLICKER_BLOCK = 5  # consecutive frame pairs of the clip that make one unit of the flicker's spread
PATCH = 96
MAKEUP_SETS = ("makeup_beautygan_honlan", "makeup_ybeauty", "makeup_elegant", "makeup_psgan")
CREATED_SETS = {"honlan": "makeup_beautygan_honlan/makeup", "ybeauty": "makeup_ybeauty/makeup"}
LOWER, HIGHER, NEAR_ONE = "lower", "higher", "nearer 1"
# Faces shown in the pictures when present: ITA° alone picks under-exposed light skin as "darkest"
# (d8.jpg, biden.jpg score below -25), so darker skin is shown on people whose skin is dark.
SHOW_DARKER = ("yRpe13BHdKw.jpg", "obama1.jpg")
SHOW_LIGHTER = ("kit_with_rose.jpg", "077417.jpg")


# -- the two arms ------------------------------------------------------------------------------------------
@dataclass
class Arm:
    label: str
    source: Path
    folder: Path  # a folder of look packs
    looks: dict[str, Look] = field(default_factory=dict)


def load_arm(label: str, path: Path, scratch: Path) -> Arm:
    """A look set from a folder of look packs, or from a trained family run (published into ``scratch``)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"arm {label}: {path} is not a folder (a folder of look packs or a family run)")
    folder = path
    if (path / "family_student.safetensors").is_file():
        from training.makeup.publish import publish

        folder = scratch / f"arm-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        publish(path, folder)
    looks = {}
    for sub in sorted(p for p in folder.iterdir() if (p / "look.json").is_file()):
        looks[sub.name] = load_look(sub)
    if not looks:
        raise InputError(f"arm {label}: no look packs (subfolders with a look.json) in {folder}")
    return Arm(label, path, folder, looks)


# -- faces and patches -------------------------------------------------------------------------------------
@dataclass
class Faces:
    crops: np.ndarray  # (N, 256, 256, 3) uint8
    marks: np.ndarray  # (N, 468, 2)
    sources: list[str]
    ita: np.ndarray  # ITA° of each face's skin


def eval_faces(data: Path, n: int) -> Faces:
    from livefilter.align.host import Aligner
    from livefilter.looks.region_stats import face_stats, ita_degrees
    from training.data import prepare_crops
    from training.makeup.dataset import EVAL_FOLDERS

    cs = prepare_crops([data / "faces" / f for f in EVAL_FOLDERS], Aligner(SIZE, 0.25), max_faces_per_image=1)
    if len(cs) < 2:
        raise InputError(f"fewer than 2 eval faces under {data / 'faces'}")
    idx = np.unique(np.linspace(0, len(cs) - 1, min(n, len(cs))).round().astype(int))
    crops, marks = cs.crops[idx], cs.landmarks[idx]
    ita = np.array([ita_degrees(face_stats(c, p).get("skin")) for c, p in zip(crops, marks)])
    return Faces(crops, marks, [cs.sources[i] for i in idx], ita)


def shown_faces(sources: list[str], ita: np.ndarray) -> list[int]:
    """Two darker and two lighter skins for a picture: the named ones when present, else by ITA°."""
    names = [Path(s).name for s in sources]
    order = [int(i) for i in np.argsort(ita) if np.isfinite(ita[i])]
    pick = []
    for wanted, fallback in ((SHOW_DARKER, order), (SHOW_LIGHTER, order[::-1])):
        got = [names.index(n) for n in wanted if n in names]
        got += [i for i in fallback if i not in got and i not in pick][:2 - len(got)]
        pick += got[:2]
    return pick


def _square(img: np.ndarray, centre: np.ndarray, side: float, size: int | None = PATCH) -> np.ndarray:
    """A square of ``side`` px around ``centre`` (border replicated), resized to ``size`` (None: as it is)."""
    s = max(8, int(round(side)))
    patch = cv2.getRectSubPix(img, (s, s), (float(centre[0]), float(centre[1])))
    if size is None:
        return patch
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_CUBIC)


def patches(crops: np.ndarray, marks: np.ndarray, size: int | None = PATCH) -> tuple[list | np.ndarray, ...]:
    """Lip patches (one a face) and eye patches (two a face: the eye, its lid and the brow), ``size`` px
    (stacked), or at the crop's own resolution (lists) when ``size`` is None."""
    from livefilter.detect.topology import BROW_LOWER, LIPS, UPPER_LID

    lips, eyes = [], []
    for img, lm in zip(crops, marks):
        lm = np.asarray(lm, np.float64)[:, :2]
        lips.append(_square(img, lm[list(LIPS)].mean(0), 1.4 * np.linalg.norm(lm[61] - lm[291]), size))
        for side in (0, 1):
            lid, brow = lm[list(UPPER_LID[side])], lm[list(BROW_LOWER[side])]
            eyes.append(_square(img, (lid.mean(0) + brow.mean(0)) / 2, 1.6 * np.linalg.norm(lid[0] - lid[-1]), size))
    return (lips, eyes) if size is None else (np.stack(lips), np.stack(eyes))


def makeup_faces(data: Path) -> tuple[np.ndarray, np.ndarray]:
    from livefilter.align.host import Aligner
    from training.data import prepare_crops

    folders = [data / "faces" / s / "makeup" for s in MAKEUP_SETS if (data / "faces" / s / "makeup").is_dir()]
    if not folders:
        raise InputError(f"no makeup photos under {data / 'faces'} (makeup_*/makeup)")
    cs = prepare_crops(folders, Aligner(SIZE, 0.25), max_faces_per_image=1)
    return cs.crops, cs.landmarks


# -- measuring one arm -------------------------------------------------------------------------------------
def offset_distance(stats: list, ref: dict[str, float]) -> dict[str, float]:
    """Distance of the faces' MEAN region descriptors to the references (the part of the distance a look,
    one shift for every face, can remove; ``reference_distance`` also holds the faces' own spread)."""
    from training.eval.regions import REFERENCE_KEYS

    res = {}
    for region, keys in REFERENCE_KEYS.items():
        v = np.array([[s.relative()[k] for k in keys] for s in stats], np.float64)
        v = v[np.all(np.isfinite(v), 1)]
        res[region] = float(np.linalg.norm(v.mean(0) - np.array([ref[k] for k in keys]))) if len(v) else math.nan
    return res


def _ratios(after: dict, before: dict) -> dict[str, float]:
    return {r: (after[r] / before[r] if before[r] and np.isfinite(before[r]) else math.nan) for r in before}


def _per_face_distance(stats: list, ref: dict[str, float], keys: tuple[str, ...]) -> np.ndarray:
    """Each face's distance of one region's descriptors to the references (NaN where not measurable)."""
    target = np.array([ref[k] for k in keys])
    v = np.array([[s.relative()[k] for k in keys] for s in stats], np.float64)
    return np.where(np.all(np.isfinite(v), 1), np.linalg.norm(v - target, axis=1), np.nan)


def _offset(v: np.ndarray, target: np.ndarray, keep: np.ndarray) -> float:
    """``offset_distance`` of one region on the faces ``keep``."""
    v = v[keep]
    v = v[np.all(np.isfinite(v), 1)]
    return float(np.linalg.norm(v.mean(0) - target)) if len(v) else math.nan


def _ratio(num: float, den: float) -> float:
    return num / den if den and np.isfinite(den) else math.nan


def look_effect(look: Look, faces: Faces, ref: dict[str, float] | None,
                emb: np.ndarray | None) -> tuple[dict, np.ndarray, dict[str, Stat]]:
    """Region ratios, skin per tone group and identity of one look at the GPU size, through the runtime's whole
    composite (what a viewer sees: the makeup placed by region, the lip line exact, the lips' detail kept);
    also the styled crops and each row's statistic on a selection of the faces (for the half-samples,
    ``training.teacher.halves``)."""
    from training.eval import identity
    from training.eval.look_effect import measure
    from training.eval.regions import DARKER, LIGHTER, REFERENCE_KEYS, face_change

    m, after = measure(look.sized_for(True), faces.crops, faces.marks, ref, placement=True, with_identity=False)
    ch = [face_change(b, a, p) for b, a, p in zip(faces.crops, after, faces.marks)]
    res = {"skin |ΔL| lighter": m["skin_tone"]["lighter"]["skin_abs_delta_l"],
           "skin |ΔL| darker": m["skin_tone"]["darker"]["skin_abs_delta_l"]}
    skin = np.array([abs(c.delta_l["skin"]) for c in ch], np.float64)
    stats: dict[str, Stat] = {}
    for label, members in (("lighter", LIGHTER), ("darker", DARKER)):
        inside = np.array([c.group in members for c in ch])
        stats[f"skin |ΔL| {label}"] = lambda s, inside=inside: H.nanmean(skin, s["faces"][inside[s["faces"]]])
    if identity.unavailable_reason() is None:  # FaceNet once on the styled faces: the rows and their per-face cosines
        e0, e1 = emb if emb is not None else identity.embed(faces.crops), identity.embed(after)
        ident = identity.compare(e0, e1)
        res["same person rate"] = ident["same_person_rate"]
        res["identity cosine"] = ident["cosine_mean"]
        cos, thr = identity.cosine(e0, e1), identity.threshold()
        stats["same person rate"] = lambda s: float((cos[s["faces"]] >= thr).mean())
        stats["identity cosine"] = lambda s: float(cos[s["faces"]].mean())
    if ref is not None:
        for r, v in _ratios(m["reference_distance_after"], m["reference_distance_before"]).items():
            res[f"{r} distance ratio"] = v
        o0, o1 = offset_distance([c.before for c in ch], ref), offset_distance([c.after for c in ch], ref)
        for r, v in _ratios(o1, o0).items():
            res[f"{r} offset ratio"] = v
        for r, keys in REFERENCE_KEYS.items():
            d0, d1 = (_per_face_distance([getattr(c, w) for c in ch], ref, keys) for w in ("before", "after"))
            v0, v1 = (np.array([[getattr(c, w).relative()[k] for k in keys] for c in ch], np.float64)
                      for w in ("before", "after"))
            target = np.array([ref[k] for k in keys])
            stats[f"{r} distance ratio"] = lambda s, d0=d0, d1=d1: _ratio(H.nanmean(d1, s["faces"]),
                                                                          H.nanmean(d0, s["faces"]))
            stats[f"{r} offset ratio"] = lambda s, v0=v0, v1=v1, t=target: _ratio(_offset(v1, t, s["faces"]),
                                                                                  _offset(v0, t, s["faces"]))
    return res, after, stats


def half(x, y) -> int:
    """KID subsets of half the smaller set: with a few dozen patches, full-size subsets would overlap almost
    completely and their std would say nothing about the sampling spread."""
    return max(2, min(len(x), len(y)) // 2)


def realism(after: np.ndarray, faces: Faces, real: list[np.ndarray]) -> tuple[dict[str, float], dict[str, Stat]]:
    """KID of the styled lip and eye patches against the real makeup photos' (``real``: lips, eyes features;
    two eye patches a face), and each one's statistic on a selection of the eval faces and real faces."""
    from training.teacher import kid

    lips, eyes = patches(after, faces.marks)
    out_: dict[str, float] = {}
    stats: dict[str, Stat] = {}
    for name, x, y in (("lips", lips, real[0]), ("eyes", eyes, real[1])):
        fx = kid.features(x).pool
        k = kid.kid(fx, y, subsets=100, subset_size=half(fx, y))
        out_[f"KID {name} ×1000"], out_[f"KID {name} std ×1000"] = 1000 * k["kid"], 1000 * k["std"]
        per = len(fx) // len(faces.crops)  # patches a face: one lip, two eyes

        def stat(s: Selection, fx=fx, y=y, per=per) -> float:
            xs, ys = fx[_patches_of(s["faces"], per)], y[_patches_of(s["real"], per)]
            return 1000 * kid.kid(xs, ys, subsets=HALF_SUBSETS, subset_size=half(xs, ys))["kid"]

        stats[f"KID {name} ×1000"] = stat
    return out_, stats


def _patches_of(units: np.ndarray, per: int) -> np.ndarray:
    """Indices of the patches of some faces when each face gave ``per`` consecutive patches."""
    return (units[:, None] * per + np.arange(per)).ravel()


PLACEMENT = {"inner_mouth_delta_e": ("inner-mouth ΔE", LOWER), "spill": ("spill", LOWER),
             "under_eye_abs_delta_l": ("under-eye |ΔL|", LOWER), "lid_asymmetry": ("lid asymmetry", LOWER),
             "cheek_asymmetry": ("cheek asymmetry", LOWER), "lip_texture": ("lip texture", NEAR_ONE),
             "stray_colour": ("stray colour (ΔE p95 off the features)", LOWER)}


def placement(look: Look, photos: list[np.ndarray]) -> tuple[dict[str, float], dict[str, Stat], int]:
    """The placement means over the faces of the photos through the host pipeline at the CPU size, each row's
    statistic on a selection of those faces, and how many faces there were."""
    from training.eval import placement as P

    found = P.run_frames(P.host_pipeline(look, "cpu"), photos, reset_between=True)
    res: dict[str, float] = {}
    stats: dict[str, Stat] = {}
    for key, (label, _) in PLACEMENT.items():
        src = "under_eye_delta_l" if key == "under_eye_abs_delta_l" else key
        v = np.array([f.values[src] for f in found], np.float64)
        v = np.abs(v) if src != key else v
        res[label] = H.nanmean(v, np.arange(len(v)))
        stats[label] = lambda s, v=v: H.nanmean(v, s["photos"])
    return res, stats, len(found)


def flicker(look: Look, video: Path, frames: int) -> tuple[dict[str, float], dict[str, Stat], int]:
    """The warped flicker and the frame change ratios on the clip, the warped one's statistic on a selection of
    blocks of consecutive frame pairs, and how many blocks there are."""
    from training.eval.metrics import warped_ratio
    from training.eval.stability import measure as stability

    r = stability(video, str(look.root), {"smoothing": True, "temporal": 0.5}, frames=frames, pair_errors=True)
    e_out, e_in = (np.asarray(r["pair_errors"][k], np.float64) for k in ("output", "input"))
    # a block of FLICKER_BLOCK consecutive pairs is one unit: a pair's error follows its neighbours' motion
    n = len(e_out) // FLICKER_BLOCK
    b_out, b_in = (x[:n * FLICKER_BLOCK].reshape(n, FLICKER_BLOCK).sum(1) for x in (e_out, e_in))
    stat = lambda s: warped_ratio(b_out[s["blocks"]], b_in[s["blocks"]])  # noqa: E731
    return ({"warped flicker ratio": r["warped_flicker_ratio"], "frame change ratio": r["flicker_ratio"]},
            {"warped flicker ratio": stat}, n)


DIRECTION = {"distance ratio": LOWER, "offset ratio": LOWER, "skin |ΔL|": LOWER, "same person rate": HIGHER,
             "identity cosine": HIGHER, "KID": LOWER, "flicker ratio": LOWER,
             **{label: d for label, d in PLACEMENT.values()}}


def direction(measure: str) -> str | None:
    if "std" in measure:
        return None
    return next((d for k, d in DIRECTION.items() if k in measure), None)


def better(measure: str, a: float, b: float) -> str:
    d = direction(measure)
    if d is None or not (np.isfinite(a) and np.isfinite(b)):
        return ""
    if abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)):
        return "="
    if d == NEAR_ONE:
        a, b = -abs(a - 1), -abs(b - 1)
    elif d == LOWER:
        a, b = -a, -b
    return "A" if a > b else "B"


def convergence(before: np.ndarray, after: np.ndarray) -> float:
    """Slope of each face's change against its own value before (per-face lid L_rel, NaN faces left out). A
    pigment laid at one lightness against the skin moves every lid towards it: lighter lids darken more than
    darker ones and the slope is negative (-1: every face ends at the same value); an offset added to each
    face's own lid keeps their spread (slope 0)."""
    ok = np.isfinite(before) & np.isfinite(after)
    if ok.sum() < 3 or np.ptp(before[ok]) == 0:
        return math.nan
    return round(float(np.polyfit(before[ok], after[ok] - before[ok], 1)[0]), 3)


def lid_response(student: Look, faces: Faces, codes: dict) -> dict[str, dict[str, list[float]]]:
    """Per code (name -> LookCode): the faces' mean lid descriptors (lid L_rel, a, b) unstyled, painted by the
    renderer (the student's target) and by ``student`` at the GPU size, strength 1 -- does the student follow
    the eye-shadow code? -- and each one's ``convergence`` of the faces' lid L_rel (does it lay a pigment, as
    the renderer does, or add an offset?) (``training/teacher/LIDS.md``)."""
    import torch

    from training.data import CropSet
    from training.eval.look_effect import apply_look
    from training.makeup.dataset import build_faceset
    from training.makeup.render import render
    from livefilter.looks.region_stats import face_stats

    fs = build_faceset(CropSet(faces.crops, faces.sources, faces.marks), faces.sources)
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    keys = ("lid_L_rel", "lid_a", "lid_b")

    def per_face(imgs: np.ndarray) -> np.ndarray:
        return np.array([[face_stats(c, p).relative()[k] for k in keys] for c, p in zip(imgs, faces.marks)])

    def mean(v: np.ndarray) -> list[float]:
        return [round(float(x), 2) for x in np.nanmean(v, 0)]

    plain = per_face(faces.crops)
    out = {"unstyled": {"lids": mean(plain)}}
    for name, code in codes.items():
        vec = torch.from_numpy(code.vector())[None].repeat(len(faces.crops), 1)
        with torch.no_grad():
            painted = render(t(fs.crops), torch.from_numpy(fs.masks).float() / 255, vec, t(fs.smooth), t(fs.painted),
                             torch.from_numpy(fs.edges).float()[:, None] / 255)
        painted = (painted.permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8)
        styled = apply_look(student.sized_for(True), faces.crops, faces.marks, 1.0, code=code.vector())
        r, st = per_face(painted), per_face(styled)
        out[name] = {"renderer": mean(r), "student": mean(st),
                     "renderer convergence": convergence(plain[:, 0], r[:, 0]),
                     "student convergence": convergence(plain[:, 0], st[:, 0])}
    return out


def spreads(stats: dict[str, dict[str, dict[str, Stat]]], units: dict[str, dict[str, dict[str, int]]],
            n_faces: int, n_real: int) -> dict[str, dict[str, dict]]:
    """Section -> row -> B - A and its standard error from paired half-samples of the eval faces, the real
    makeup faces, and, per section, the placement's faces and the clip's blocks of frame pairs (``units``:
    kind -> arm -> section -> count; ``training.teacher.halves``). A row on a kind of unit the two arms
    counted differently (a pipeline that found other faces in the photos) has no spread: its units do not
    pair; nor has one with too few units of its kind (a clip of a few frames)."""
    rows_of = {"photos": {label for label, _ in PLACEMENT.values()}, "blocks": {"warped flicker ratio"}}
    res: dict[str, dict[str, dict]] = {}
    for section, a_stats in stats["A"].items():
        b_stats = stats["B"].get(section, {})
        sizes = {"faces": n_faces, "real": n_real}
        unpaired: set[str] = set()
        for kind, counts in units.items():
            a, b = counts["A"].get(section), counts["B"].get(section)
            if a is not None and a == b and a >= H.MIN_UNITS:
                sizes[kind] = a
            else:
                unpaired |= rows_of[kind]
        selections = H.halves(sizes)
        res[section] = {row: H.spread(a_stats[row], b_stats[row], sizes, selections).as_dict()
                        for row in a_stats if row in b_stats and row not in unpaired}
    return res


# -- the report --------------------------------------------------------------------------------------------
def verdicts(doc: dict) -> list[tuple[str, str, float, float, str, bool | None]]:
    """(section, row, A, B, better, sure) for every row of arm A: ``better`` from the two values and the row's
    direction, ``sure`` whether the difference is beyond the sampling spread (None: no spread measured)."""
    out_ = []
    spread = doc.get("spread", {})
    for section, measures in doc["arms"]["A"].items():
        for name, a in measures.items():
            b = doc["arms"]["B"].get(section, {}).get(name, math.nan)
            verdict = better(name, a, b)
            sure = spread.get(section, {}).get(name, {}).get("sure") if verdict in ("A", "B") else None
            out_.append((section, name, a, b, verdict, sure))
    return out_


def tally(doc: dict) -> dict[str, int]:
    """Rows each arm is better on, and of those the rows beyond the sampling spread."""
    rows = verdicts(doc)
    return {f"{arm}{' sure' if sure else ''}": sum(v == arm and (s is True or not sure) for *_, v, s in rows)
            for arm in ("A", "B") for sure in (False, True)}


def ship(doc: dict) -> tuple[bool, list[str]]:
    """The rule B ships by: at least as good on every measure (no row A wins beyond the sampling spread; a row
    A wins that has no spread counts against B), and better on lid fidelity (an eyelids row B wins beyond the
    spread) and on realism (a KID row B wins beyond the spread). Also the reasons, one line each."""
    rows = verdicts(doc)
    against = [f"{sec}: {name}" for sec, name, _, _, v, sure in rows if v == "A" and sure is not False]
    lids = [f"{sec}: {name}" for sec, name, _, _, v, sure in rows if v == "B" and sure and name.startswith("eyelids")]
    real = [f"{sec}: {name}" for sec, name, _, _, v, sure in rows if v == "B" and sure and name.startswith("KID")]
    reasons = [f"A better beyond the spread (or without one) on {len(against)} rows"
               + (": " + "; ".join(against) if against else ""),
               f"B better on lid fidelity beyond the spread on {len(lids)} rows",
               f"B better on realism (KID) beyond the spread on {len(real)} rows"]
    return not against and bool(lids) and bool(real), reasons


def markdown(doc: dict) -> str:
    t = tally(doc)
    fmt = (lambda v: "–" if v is None or not np.isfinite(v) else f"{v:.3f}")  # noqa: E731
    rows = [f"A/B on {doc['faces']} eval faces ({', '.join(doc['eval_folders'])}); A = `{doc['a']}`, "
            f"B = `{doc['b']}`. Realism features: {doc['feature_net']}.", "",
            f"B is better on {t['B']} rows, A on {t['A']}."
            + (f" Beyond the sampling spread (\"sure\": the difference is more than {H.Z} standard errors, from "
               f"{doc.get('replicates', H.REPLICATES)} paired half-samples of the faces): B on {t['B sure']}, A on "
               f"{t['A sure']}." if "spread" in doc else ""), ""]
    if "spread" in doc:
        ships, reasons = ship(doc)
        rows += [f"**B {'ships' if ships else 'does not ship'}** (at least as good on every measure, better on lid "
                 "fidelity and realism):", *[f"- {r}" for r in reasons], ""]
    rows += ["| section | measure | A | B | better | sure |", "|---|---|---|---|---|---|"]
    for section, name, a, b, verdict, sure in verdicts(doc):
        cell = name.replace("|", "\\|")  # |ΔL| must not end a table cell
        rows.append(f"| {section} | {cell} | {fmt(a)} | {fmt(b)} | {verdict} | "
                    f"{'' if sure is None else ('yes' if sure else 'no')} |")
    rows += ["", "Anchors (no makeup): " + ", ".join(f"{k} {v:.3f}" for k, v in doc["anchors"].items()), "",
             "Read the rows together: a look that changes less wins the do-no-harm rows (identity, skin |ΔL|, "
             "flicker, placement) and loses the effect rows (distance and offset ratios, KID of the lips). The frame "
             "change ratio has no verdict: it also counts the makeup's own motion with the face; the warped flicker "
             "ratio, measured along the input's optical flow, counts only what the motion does not explain; its spread "
             "comes from blocks of one clip's frames. With this many rows a few sure ones can still be chance."]
    return "\n".join(rows) + "\n"


def picture(faces: Faces, styled: dict[str, np.ndarray], path: Path) -> None:
    """Two darker and two lighter skins: input | A | B, then the lips and an eye of each at full resolution."""
    from livefilter.demo.clip import save_rgb

    chosen = shown_faces(faces.sources, faces.ita)
    rows = []
    for i in chosen:
        imgs = [faces.crops[i], styled["A"][i], styled["B"][i]]
        # the crop's own pixels (no resampling), each pixel drawn as a block to fill half a column
        lips, eyes = zip(*(patches(x[None], faces.marks[i:i + 1], None) for x in imgs))
        block = lambda p: cv2.resize(p, (SIZE // 2, SIZE // 2), interpolation=cv2.INTER_NEAREST)  # noqa: E731
        close = [np.concatenate([block(lp[0]), block(ey[0])], 0) for lp, ey in zip(lips, eyes)]
        gap = np.full((SIZE, 4, 3), 255, np.uint8)
        parts = []
        for x in imgs + close:
            parts += [x, gap]
        rows += [np.concatenate(parts[:-1], 1), np.full((4, sum(p.shape[1] for p in parts[:-1]), 3), 255, np.uint8)]
    head = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    for x, text in ((4, "input"), (SIZE + 8, "A"), (2 * SIZE + 12, "B"), (3 * SIZE + 16, "lips/eye: in | A | B")):
        cv2.putText(head, text, (x, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    save_rgb(path, np.concatenate([head] + rows[:-1], 0), params=[cv2.IMWRITE_PNG_COMPRESSION, 9])


def _references(data: Path, look: Look, cache: dict) -> dict[str, float] | None:
    """A family look's reference descriptors (the photos named in its look.json), or a created look's own."""
    from training.eval.report import created_references

    own = created_references(look)
    if own is not None:
        return own
    names = look.training.get("references") if isinstance(look.training, dict) else None
    if not names or not isinstance(names, list):
        return None
    paths = sorted(p for s in MAKEUP_SETS for p in (data / "faces" / s / "makeup").glob("*") if p.name in set(names))
    if not paths:
        return None
    key = tuple(paths)
    if key not in cache:
        from livefilter.align.host import Aligner
        from livefilter.looks.region_stats import descriptors_of, robust_mean
        from training.data import prepare_crops

        cs = prepare_crops(paths, Aligner(SIZE, 0.25), max_faces_per_image=1)
        cache[key] = robust_mean(descriptors_of(cs.crops, cs.landmarks)) if len(cs) else None
    return cache[key]


def created(arm: Arm, data: Path, sets: dict[str, str]) -> dict[str, Look]:
    """Looks made from photo sets with this arm's own student (LookCreator, no finetune)."""
    from livefilter.looks.create import CreateOptions, LookCreator
    from livefilter.looks.registry import LookRegistry

    creator = LookCreator(LookRegistry([arm.folder]), threads=2)
    made = {}
    for name, rel in sets.items():
        photos = sorted(p for p in (data / "faces" / rel).iterdir() if p.is_file())
        made[name] = creator.create(photos, CreateOptions(f"ab-{name}-{arm.label.lower()}", replace=True)).look
    return made


def run(a: Path, b: Path, out_path: Path, data: Path, n_faces: int, looks: list[str] | None, frames: int,
        with_created: bool, with_placement: bool, picture_look: str | None) -> dict:
    """Measure both arms and write OUT.json, OUT.md and OUT.png (scratch files removed afterwards)."""
    scratch = Path(tempfile.mkdtemp(prefix="lf-ab-"))
    os.environ["LIVEFILTER_HOME"] = str(scratch / "home")  # created looks go to a scratch looks folder
    try:
        return _run(a, b, out_path, data, n_faces, looks, frames, with_created, with_placement, picture_look, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # the published arm and the created looks: ours alone


def _run(a: Path, b: Path, out_path: Path, data: Path, n_faces: int, looks: list[str] | None, frames: int,
         with_created: bool, with_placement: bool, picture_look: str | None, scratch: Path) -> dict:
    from training.eval import identity
    from training.makeup.dataset import EVAL_FOLDERS
    from training.teacher import kid

    arms = [load_arm("A", a, scratch), load_arm("B", b, scratch)]
    names = [n for n in arms[0].looks if n in arms[1].looks and (not looks or n in looks)]
    missing = [n for n in looks or [] if n not in names]
    if missing:
        raise InputError(f"--looks: {', '.join(shown(n) for n in missing)} is not a look of both arms "
                         f"(both have: {', '.join(n for n in arms[0].looks if n in arms[1].looks) or 'none'})")
    if not names:
        raise InputError("the two arms share no look (same folder names)")
    faces = eval_faces(data, n_faces)
    emb = identity.embed(faces.crops) if identity.available() else None
    real = [kid.features(p).pool for p in patches(*makeup_faces(data))]
    plain = patches(faces.crops, faces.marks)
    anchors = {}
    for nm, x, y in (("lips", plain[0], real[0]), ("eyes", plain[1], real[1])):
        k = kid.kid(kid.features(x).pool, y, subsets=100, subset_size=half(x, y))
        anchors[f"KID {nm} ×1000 unstyled"] = 1000 * k["kid"]
        anchors[f"KID {nm} std ×1000 unstyled"] = 1000 * k["std"]
    photos = video = None
    if with_placement:
        from training.eval.placement import read_photos

        photos = read_photos(sorted(p for f in EVAL_FOLDERS for p in (data / "faces" / f).iterdir()
                                    if p.suffix.lower() in (".jpg", ".jpeg", ".png")))
    clip = data / "video" / "deepfacelive" / "Obama_speaking.mp4"
    if frames > 0 and clip.is_file():
        video = clip
    ref_cache: dict = {}
    doc: dict = {"a": str(a), "b": str(b), "faces": len(faces.crops), "eval_folders": list(EVAL_FOLDERS),
                 "sources": faces.sources, "feature_net": kid.FEATURE_NET, "looks": names, "anchors": anchors,
                 "clip": clip.name if video else None, "frames": frames if video else 0, "arms": {}}
    styled: dict[str, np.ndarray] = {}
    stats: dict[str, dict[str, dict[str, Stat]]] = {}  # arm -> section -> row -> statistic on a selection
    photo_faces: dict[str, dict[str, int]] = {}  # arm -> section -> faces the placement found in the photos
    blocks: dict[str, dict[str, int]] = {}  # arm -> section -> blocks of frame pairs of the clip
    for arm in arms:
        sections: dict[str, dict] = {}
        stats[arm.label], photo_faces[arm.label], blocks[arm.label] = {}, {}, {}
        todo = [(n, arm.looks[n]) for n in names]
        if with_created:
            try:
                todo += [(f"created {k}", v) for k, v in created(arm, data, CREATED_SETS).items()]
            except LivefilterError as e:  # e.g. an arm whose looks do not carry the code-conditioned student
                doc.setdefault("not_measured", {})[f"arm {arm.label} created looks"] = str(e)
                log.warning("arm %s: created looks not measured: %s", arm.label, e)
        for name, look in todo:
            with out.status(f"arm {arm.label}: {name}"):
                res, after, st = look_effect(look, faces, _references(data, look, ref_cache), emb)
                kids, kid_stats = realism(after, faces, real)
                res, st = res | kids, st | kid_stats
                if photos and not name.startswith("created"):
                    placed, placed_stats, photo_faces[arm.label][name] = placement(look, photos)
                    res, st = res | placed, st | placed_stats
                if video and not name.startswith("created"):
                    flickers, flicker_stats, blocks[arm.label][name] = flicker(look, video, frames)
                    res, st = res | flickers, st | flicker_stats
            sections[name] = {k: float(v) for k, v in res.items()}
            stats[arm.label][name] = st
            if name == (picture_look or names[0]):
                styled[arm.label] = after
            log.info("arm %s %s: %s", arm.label, name, json.dumps(sections[name]))
        doc["arms"][arm.label] = sections
    with out.status("the sampling spread of each row (paired half-samples)"):
        doc["spread"] = spreads(stats, {"photos": photo_faces, "blocks": blocks}, len(faces.crops), len(real[0]))
    doc["replicates"] = H.REPLICATES
    from livefilter.infra.atomic import write_text

    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_text(out_path.with_suffix(".json"), json.dumps(doc, indent=1, allow_nan=True) + "\n")
    write_text(out_path.with_suffix(".md"), markdown(doc))
    if len(styled) == 2:
        picture(faces, styled, out_path.with_suffix(".png"))
    return doc


app = typer.Typer(name="training.teacher.ab", help="A/B of two look sets on the same eval faces.",
                  add_completion=False, pretty_exceptions_enable=False)


@app.command()
def ab(a: Path = typer.Option(..., "--a", help="Arm A: a folder of look packs or a family run."),
       b: Path = typer.Option(..., "--b", help="Arm B: a folder of look packs or a family run."),
       out_path: Path = typer.Option(Path("training/teacher_ab"), "--out", help="Output stem (.json, .md, .png)."),
       data: Path = typer.Option(None, "--data", help="Data root with faces/ and video/ (../shared/data)."),
       faces: int = typer.Option(40, "--faces", min=2, help="Eval faces (the same for every look; 38 exist)."),
       looks: str = typer.Option("", "--looks", help="Comma list of looks (default: every look both arms have)."),
       frames: int = typer.Option(60, "--frames", min=0, help="Frames of the clip for the flicker (0: no video)."),
       created_looks: bool = typer.Option(True, "--created/--no-created", help="Also looks created from photos."),
       with_placement: bool = typer.Option(True, "--placement/--no-placement", help="Placement measures."),
       picture_look: str = typer.Option("", "--picture-look", help="Look shown in the picture (default: the first).")
       ) -> None:
    """Measure two look sets (A, B) on the same eval faces; write OUT.json, OUT.md and OUT.png."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = data or default_data()
    if root is None or not (Path(root) / "faces").is_dir():
        raise InputError(f"no data root with faces/ at {root} (pass --data)")
    if out_path.suffix:
        raise InputError(f"--out takes a stem without a suffix, got {out_path.name!r}")
    wanted = [x for x in looks.split(",") if x] or None
    doc = run(a, b, out_path, Path(root), faces, wanted, frames, created_looks, with_placement, picture_look or None)
    out.print(f"wrote {out_path.with_suffix('.json')}, .md and .png ({len(doc['looks'])} looks)")


if __name__ == "__main__":
    main(app, "python -m training.teacher.ab")
