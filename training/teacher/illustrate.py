"""A classical illustration filter: the pseudo-paired target for the toon look.

    python -m training.teacher.illustrate [--data ../shared/data] [--faces 24]

``illustrate(images, strength)`` turns aligned face crops (N, H, W, 3) uint8 RGB into flat-shaded,
inked portraits, in four steps:

1. edge-preserving smoothing: three bilateral passes (colour sigma falling pass by pass), so skin texture
   goes and the features' edges stay;
2. colour quantisation in CIELAB: lightness snapped softly (tanh steps, Winnemöller et al. 2006) to
   levels placed at the face's own lightness quantiles (luminance-aware: a dark face gets as many
   levels as a light one, never crushed into one band; the background's extremes are two more
   levels), chroma snapped to a coarser grid: flat areas, simplified shading;
3. ink: an XDoG (Winnemöller 2012) of the smoothed lightness, one-sided (only pixels darker than their
   surround: lash lines, brows, the lip line, nostrils, hair edges), thresholded against the image's own
   strongest edges so soft shading (the nose's side, the folds beside the mouth) stays un-inked, thin
   (sigma 0.8 px at 256 px);
4. the skin's own lightness: the mean L of the face's centre (an ellipse the aligned crop puts the
   cheeks, nose and mouth in), ink left out, is put back to the input's, so no skin tone is darkened or
   lightened as a whole.

Every step is OpenCV or NumPy over whole images (the loop is over the images of a batch, never over
pixels). ``main`` measures it, and a toon look pack beside it (``--looks``), on eval faces (skin ΔL per skin-tone
group, FaceNet identity, fine texture left on the face, the Gram style distance to the artistic references
before / after, ms per batch of 8 at 256 px) into ``training/teacher/illustrate.json`` and draws
``docs/toon/illustrate.png`` (input | illustration | toon look).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

LEVELS = 7  # lightness levels (quantiles of the image's own L)
CHROMA_STEP = 6.0  # a/b grid (CIELAB units)
SHARPNESS = 0.45  # the tanh steps' slope, per L unit at level spacing 10 (scaled with the spacing)
INK_SIGMA = 0.8  # XDoG inner sigma at 256 px
INK_K = 1.6
INK_PERCENTILE = 94.0  # ink where the one-sided DoG is beyond this percentile of the image's own ...
INK_FLOOR = 2.0  # ... and at least this many L units
INK_DARK = 0.6  # ink multiplies L by (1 - INK_DARK) at full weight


def _smooth(bgr: np.ndarray, u: float) -> np.ndarray:
    out = bgr
    for sc, ss in ((40, 3), (28, 3), (18, 2)):
        out = cv2.bilateralFilter(out, 0, sc, ss * u)
    return out


def _centre(size: int) -> np.ndarray:
    """The aligned crop's centre ellipse: cheeks, nose and mouth (padding 0.25 puts the face there)."""
    m = np.zeros((size, size), np.uint8)
    cv2.ellipse(m, (size // 2, int(size * 0.56)), (int(size * 0.24), int(size * 0.2)), 0, 0, 360, 1, -1)
    return m.astype(bool)


def _quantise_L(L: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Soft snapping of L (N, H, W) to levels at the quantiles of each face's own L (its ``centre``), plus the
    image's darkest and brightest (luminance-aware: a white shirt does not become the skin's top level)."""
    q = np.linspace(2, 98, LEVELS)
    levels = np.percentile(L[:, centre], q, axis=1).T  # (N, LEVELS)
    flat = L.reshape(len(L), -1)
    levels = np.sort(np.concatenate([flat.min(1, keepdims=True), levels, flat.max(1, keepdims=True)], 1), 1)
    levels = np.maximum.accumulate(levels + np.arange(levels.shape[1]) * 1e-3, axis=1)
    mids = (levels[:, 1:] + levels[:, :-1]) / 2  # nearest level by the midpoints between levels
    near = np.stack([lv[np.searchsorted(m, x)] for lv, m, x in zip(levels, mids, L)])
    spacing = np.maximum(np.diff(levels[:, 1:-1], axis=1).mean(1), 1.0)[:, None, None]
    return near + spacing / 2 * np.tanh(SHARPNESS * 10.0 / spacing * (L - near) / 2)


def _ink(L: np.ndarray, u: float) -> np.ndarray:
    """One-sided XDoG ink weight in [0, 1] for one image's smoothed L (H, W)."""
    s = INK_SIGMA * u
    dog = cv2.GaussianBlur(L, (0, 0), INK_K * s) - cv2.GaussianBlur(L, (0, 0), s)  # > 0: darker than around
    thr = max(INK_FLOOR, float(np.percentile(dog, INK_PERCENTILE)))
    return np.clip(2.0 * (dog - thr) / thr, 0, 1)


def illustrate(images: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Aligned face crops (N, H, W, 3) uint8 RGB -> illustrated crops, same shape and dtype."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8 RGB, got {images.shape} {images.dtype}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    n, h, w, _ = images.shape
    if n == 0 or strength == 0.0:
        return images.copy()
    u = min(h, w) / 256.0
    smooth = np.stack([_smooth(np.ascontiguousarray(x[:, :, ::-1]), u) for x in images])
    # one cvtColor over the whole batch (rows stacked): per-pixel conversions do not mix images
    lab = cv2.cvtColor(smooth.reshape(n * h, w, 3).astype(np.float32) / 255, cv2.COLOR_BGR2LAB).reshape(n, h, w, 3)
    lab0 = cv2.cvtColor(images.reshape(n * h, w, 3).astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(n, h, w, 3)
    centre = _centre(h) if h == w else np.ones((h, w), bool)
    L = _quantise_L(lab[..., 0], centre)
    ab = np.round(lab[..., 1:] / CHROMA_STEP) * CHROMA_STEP
    ab = lab[..., 1:] + 0.7 * (ab - lab[..., 1:])  # mostly flat chroma, no hard contour steps
    ink = np.stack([_ink(x, u) for x in lab[..., 0]])
    L = L * (1.0 - INK_DARK * ink)
    keep = centre[None] & (ink < 0.05)
    shift = (np.where(keep, lab0[..., 0] - L, 0).sum((1, 2)) / np.maximum(keep.sum((1, 2)), 1))[:, None, None]
    L = np.clip(L + shift * (1.0 - ink), 0, 100)
    out = np.concatenate([L[..., None], ab], -1).astype(np.float32)
    rgb = cv2.cvtColor(out.reshape(n * h, w, 3), cv2.COLOR_LAB2RGB).reshape(n, h, w, 3) * 255
    if strength < 1.0:
        rgb = images + strength * (rgb - images)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


# -- measuring ------------------------------------------------------------------------------------------------
STYLE_SETS = ("anime", "cartoon", "caricature")


def style_references(data: Path) -> dict[str, np.ndarray]:
    """The artistic references (aligned when a face is found, else the photo's centre square) at 256 px."""
    from livefilter.align.host import Aligner
    from training.data import prepare_crops

    out = {}
    for name in STYLE_SETS:
        folder = data / "faces" / "dualstylegan_style_refs" / name
        if folder.is_dir():
            cs = prepare_crops([folder], Aligner(256, 0.25), max_faces_per_image=1)
            if len(cs):
                out[name] = cs.crops
    return out


def texture_ratio(before: np.ndarray, after: np.ndarray) -> float:
    """How much fine shading is left on the face's centre (cheeks, nose, mouth): the median |Laplacian| of
    lightness after over before, averaged over the faces. 1 is the photo's own texture; flat colour areas
    score well below it (the median ignores the few pixels of level steps and ink lines)."""
    centre = _centre(before.shape[1]) if before.shape[1] == before.shape[2] else np.ones(before.shape[1:3], bool)

    def spread(x: np.ndarray) -> np.ndarray:
        n, h, w, _ = x.shape
        L = cv2.cvtColor(x.reshape(n * h, w, 3), cv2.COLOR_RGB2LAB)[..., 0].reshape(n, h, w).astype(np.float32)
        return np.array([np.median(np.abs(cv2.Laplacian(v, cv2.CV_32F)[centre])) for v in L])

    return float(np.mean(spread(after) / np.maximum(spread(before), 1e-6)))


def measure(crops: np.ndarray, marks: np.ndarray, refs: dict[str, np.ndarray],
            toon_look=None) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """Skin ΔL per tone group, identity, texture left and Gram style distance before / after, for the
    illustration and for ``toon_look(crops, marks)`` (a toon look pack) when given, and timing of
    ``illustrate``. Returns (measures, illustrated, toon look's output or None)."""
    from training.eval import identity
    from training.eval.regions import face_change, summarise
    from training.teacher import kid

    t0 = time.perf_counter()
    after = np.concatenate([illustrate(crops[i:i + 8]) for i in range(0, len(crops), 8)])
    per_batch = (time.perf_counter() - t0) * 1000 / max(1, int(np.ceil(len(crops) / 8)))
    reason = identity.unavailable_reason()
    e0 = identity.embed(crops) if reason is None else None

    def effect(out: np.ndarray) -> dict:
        s = summarise([face_change(b, a, p) for b, a, p in zip(crops, out, marks)])
        return {"skin_abs_delta_l": s["skin"]["abs_delta_l"], "skin_delta_l": s["skin"]["delta_l"],
                "skin_tone": {g: s["skin_tone"][g] for g in ("lighter", "darker")},
                "texture_ratio": round(texture_ratio(crops, out), 3),
                "identity": identity.compare(e0, identity.embed(out)) if e0 is not None
                else identity.not_measured(reason)}

    toon = toon_look(crops, marks) if toon_look is not None else None
    res: dict = {"faces": len(crops), "size": int(crops.shape[1]), "ms_per_batch_of_8": round(per_batch, 1)}
    res |= effect(after)
    if toon is not None:
        res["toon_look"] = effect(toon)
    if refs and reason is None:
        f0, f1 = kid.features(crops), kid.features(after)
        ft = kid.features(toon) if toon is not None else None
        res["style_distance"] = {"feature_net": kid.FEATURE_NET}
        for name, imgs in refs.items():
            fr = kid.features(imgs)
            res["style_distance"][name] = {"before": kid.gram_distance(f0, fr), "after": kid.gram_distance(f1, fr)}
            if ft is not None:  # the toon look on the same faces
                res["style_distance"][name]["toon_look"] = kid.gram_distance(ft, fr)
    return res, after, toon


def toon_of(looks_dir: Path | None):
    """The toon look of a look set (``looks_dir``, or the installed looks) as ``(crops, marks) -> styled`` at
    the GPU size and its default strength, or None when that set has no toon look."""
    from livefilter.errors import LivefilterError
    from livefilter.looks.pack import load_look
    from livefilter.looks.registry import LookRegistry
    from training.eval.look_effect import apply_look

    try:
        look = load_look(looks_dir / "toon") if looks_dir is not None else LookRegistry().get("toon")
    except LivefilterError:
        return None
    return lambda crops, marks: apply_look(look.sized_for(True), crops, marks)


def picture(crops: np.ndarray, afters: list[np.ndarray], sources: list[str], ita: list[float], out: Path) -> None:
    """Two darker and two lighter skins: input | each output, then the eyes and mouth of the input and of
    the last output at 2x."""
    from livefilter.demo.clip import save_rgb
    from training.teacher.ab import shown_faces

    s = crops.shape[1]
    rows = []
    for i in shown_faces(sources, np.asarray(ita)):
        zoom = lambda x: cv2.resize(x[int(.3 * s):int(.8 * s), int(.25 * s):int(.75 * s)],  # noqa: E731
                                    None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        gap = np.full((s, 6, 3), 255, np.uint8)
        z0, z1 = zoom(crops[i]), zoom(afters[-1][i])
        top = np.concatenate([crops[i]] + [x for a in afters for x in (gap, a[i])], 1)
        pad = np.full((z0.shape[0] - s, top.shape[1], 3), 255, np.uint8)
        rows.append(np.concatenate([np.concatenate([top, pad], 0), np.full((z0.shape[0], 6, 3), 255, np.uint8),
                                    z0, np.full((z0.shape[0], 6, 3), 255, np.uint8), z1], 1))
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_rgb(out, np.concatenate(rows[:-1], 0), params=[cv2.IMWRITE_PNG_COMPRESSION, 9])


def main(argv: list[str] | None = None) -> None:
    from livefilter.align.host import Aligner
    from livefilter.infra.atomic import write_text
    from livefilter.looks.region_stats import face_stats, ita_degrees
    from training.data import prepare_crops
    from training.makeup.dataset import EVAL_FOLDERS

    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=here.parents[2] / "shared" / "data")
    ap.add_argument("--faces", type=int, default=40)
    ap.add_argument("--out", type=Path, default=here / "illustrate.json")
    ap.add_argument("--picture", type=Path, default=here.parents[1] / "docs" / "toon" / "illustrate.png")
    ap.add_argument("--looks", type=Path, default=None,
                    help="measure this look set's toon look beside the illustration (default: the installed looks)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ev = prepare_crops([args.data / "faces" / f for f in EVAL_FOLDERS], Aligner(256, 0.25), max_faces_per_image=1)
    idx = np.linspace(0, len(ev) - 1, min(args.faces, len(ev))).round().astype(int)
    crops, marks = ev.crops[idx], ev.landmarks[idx]
    res, after, toon = measure(crops, marks, style_references(args.data), toon_of(args.looks))
    res["toon_looks"] = str(args.looks) if args.looks is not None else "installed"
    write_text(args.out, json.dumps(res, indent=1) + "\n")
    ita = [ita_degrees(face_stats(c, p).get("skin")) for c, p in zip(crops, marks)]
    picture(crops, [after] + ([toon] if toon is not None else []), [ev.sources[i] for i in idx], ita, args.picture)
    log.info("%s", json.dumps(res)[:600])


if __name__ == "__main__":
    main()
