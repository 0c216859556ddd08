"""Measures of the scene stage (``livefilter/scene/``), written to ``docs/scene/measures.json``:

* **flicker** of the person mask on real videos: the mean frame-to-frame change of the mask in the
  boundary band (where either frame is between 0.05 and 0.95) and the share of pixels whose 0.5
  decision flips per frame, for the network's raw output, the smoothed mask and the refined one;
  and the **lag** the smoothing adds: the same measures on a clip whose frames move steadily;
* **boundary error** on composites with a known alpha: people cut out of real photos (their refined
  mask, feathered: that alpha is the ground truth of the composite) over other backgrounds; IoU of
  the 0.5 decision, the mean alpha error in the boundary band, and the mean distance (px) from the
  true 0.5 contour to the predicted one;
* **skin tone** under a colour grade: the mean CIELAB change (dL, da, db) of the cheeks of faces of
  many skin tones, with the grade keeping the wearer's skin (the default) and without;
* **cost** per 720p frame of each part, the median of repeated calls on this machine.

    python -m training.scene_measures --data ../shared/data --out docs/scene/measures.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from livefilter.scene.background import BackgroundConfig, BackgroundStage, Compositor, cover_resize
from livefilter.scene.grade import KNOT_X, ChannelLut, Grade, grade_table
from livefilter.scene.segment import PersonSegmenter, SegmentConfig
from livefilter.scene.stage import face_skin_rgb

log = logging.getLogger(__name__)

VIDEOS = ("video/deepfacelive/Obama_speaking.mp4", "video/deepfacelive/Twitch1.mp4",
          "video/deepfacelive/Ben_Stiller_Owen_Wilson.mp4", "video/vtoonify/651.mp4")
PORTRAITS = ("faces/face_recognition_examples/alex-lacamoire.png", "faces/face_recognition_examples/lin-manuel-miranda.png",
             "faces/face_recognition_examples/obama.jpg", "faces/face_recognition_examples/biden.jpg",
             "faces/liveportrait_source/s9.jpg", "faces/face_recognition_examples/johnsnow_test1.jpg")
SKIN_SETS = ("faces/face_recognition_examples", "faces/deepfacelive_samples_photos", "faces/celeba_subset_hfig")
# a strong warm / teal-and-orange grade for the skin measure
WARM = Grade(curves=tuple(tuple(float(np.clip(x + lift * (1 - x / 255) + d * np.sin(np.pi * x / 255), 0, 255))
                                for x in KNOT_X) for d, lift in ((22, 10), (2, 10), (-24, 10))))


def read_video(path: Path, n: int = 90, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The first ``n`` RGB frames of a video, at its own size or at ``size`` (width, height)."""
    import av

    out = []
    kw = {"width": size[0], "height": size[1]} if size else {}
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= n:
                break
            out.append(f.to_ndarray(format="rgb24", **kw))
    return out


def flicker(masks: list[np.ndarray]) -> dict:
    """``blink``: share of pixels per frame whose 0.5 decision flips and flips back on the next frame
    (a blinking edge); ``jitter``: mean |second difference| over time in the boundary band (steady
    motion gives 0, flicker does not); ``band_change``: mean |first difference| in the band (motion
    and flicker together)."""
    band, blink, jitter = [], [], []
    for a, b, c in zip(masks, masks[1:], masks[2:]):
        sel = ((b > 0.05) & (b < 0.95)) | ((a > 0.05) & (a < 0.95))
        band.append(float(np.abs(b - a)[sel].mean()) if sel.any() else 0.0)
        jitter.append(float(np.abs(c - 2 * b + a)[sel].mean()) if sel.any() else 0.0)
        da, db, dc = a > 0.5, b > 0.5, c > 0.5
        blink.append(float(((da == dc) & (db != da)).mean()))
    return {"band_change": round(float(np.mean(band)), 4), "jitter": round(float(np.mean(jitter)), 4),
            "blink": round(float(np.mean(blink)), 6)}


def measure_flicker(data: Path) -> dict:
    out = {}
    for rel in VIDEOS:
        frames = read_video(data / rel)
        row = {"frames": len(frames), "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}"}
        for label, cfg in (("smoothed", SegmentConfig(refine=False)), ("refined", SegmentConfig()),
                           ("refined_unsmoothed", SegmentConfig(smoothing=0.0))):
            seg, net = PersonSegmenter(cfg), PersonSegmenter(cfg)
            raw, got = [], []
            for f in frames:  # the raw network on every frame (the segmenter runs it on every other one)
                m = seg(f)
                raw.append(cv2.resize(net.infer(f), (f.shape[1], f.shape[0]), interpolation=cv2.INTER_LINEAR))
                got.append(m.copy())
            row.setdefault("raw", flicker(raw))
            row[label] = flicker(got)
            if label == "refined":  # the lag: how far the smoothed mask trails the raw one per frame
                row["lag_mean_abs_vs_raw_refined"] = round(float(np.mean(
                    [np.abs(cv2.resize(r, (g.shape[1], g.shape[0])) - g).mean() for r, g in zip(raw, got)])), 4)
        out[rel] = row
        log.info("flicker %s: %s", rel, row)
    return out


def contour_distance(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean distance (px) from the true 0.5 contour's pixels to the predicted 0.5 decision's edge."""
    t = (truth > 0.5).astype(np.uint8)
    p = (pred > 0.5).astype(np.uint8)
    edge_t = cv2.morphologyEx(t, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    edge_p = cv2.morphologyEx(p, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    dist = cv2.distanceTransform((edge_p == 0).astype(np.uint8), cv2.DIST_L2, 5)
    return float(dist[edge_t].mean())


def backgrounds(h: int, w: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.integers(0, 255, (h // 8, w // 8, 3), np.uint8), (0, 0), 2)
    yy = np.linspace(0, 1, h)[:, None, None]
    return {"grey": np.full((h, w, 3), 128, np.uint8), "green": np.full((h, w, 3), (40, 170, 60), np.uint8),
            "blocks": cover_resize(rng.integers(0, 255, (6, 8, 3), np.uint8), h, w),
            "texture": cv2.resize(smooth, (w, h), interpolation=cv2.INTER_CUBIC),
            "gradient": (yy * np.array([220, 120, 40]) + (1 - yy) * np.array([30, 60, 140])).astype(np.uint8)
            * np.ones((1, w, 1), np.uint8)}


def measure_boundary(data: Path) -> dict:
    rows = []
    for rel in PORTRAITS:
        img = cv2.imread(str(data / rel), cv2.IMREAD_COLOR)
        if img is None:
            continue
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        h, w = rgb.shape[:2]
        seg = PersonSegmenter(SegmentConfig(smoothing=0.0))
        alpha = cv2.GaussianBlur((seg(rgb) > 0.5).astype(np.float32), (0, 0), 1.0)  # the composites' true alpha
        for name, bg in backgrounds(h, w).items():
            comp = (alpha[..., None] * rgb + (1 - alpha[..., None]) * bg).round().astype(np.uint8)
            for label, cfg in (("raw_upsampled", SegmentConfig(smoothing=0.0, refine=False)),
                               ("refined", SegmentConfig(smoothing=0.0))):
                s = PersonSegmenter(cfg)
                pred = s(comp).copy()
                band = (alpha > 0.02) & (alpha < 0.98)
                band = cv2.dilate(band.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
                t, p = alpha > 0.5, pred > 0.5
                rows.append({"photo": rel, "background": name, "mask": label,
                             "iou": round(float((t & p).sum() / max((t | p).sum(), 1)), 4),
                             "band_alpha_error": round(float(np.abs(alpha - pred)[band].mean()), 4),
                             "contour_px": round(contour_distance(alpha, pred), 2)})
    summary = {}
    for label in ("raw_upsampled", "refined"):
        sel = [r for r in rows if r["mask"] == label]
        summary[label] = {k: round(float(np.mean([r[k] for r in sel])), 4) for k in ("iou", "band_alpha_error", "contour_px")}
        summary[label]["cases"] = len(sel)
    log.info("boundary: %s", summary)
    return {"summary": summary, "cases": rows}


def lab(rgb_mean: np.ndarray) -> np.ndarray:
    px = np.clip(rgb_mean, 0, 255).astype(np.float32).reshape(1, 1, 3) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2LAB)[0, 0].astype(np.float64)


def measure_skin(data: Path) -> dict:
    from livefilter.detect import create_detector

    det = create_detector()
    rows = {"keep_skin": [], "grade_skin": []}
    tones = []
    for folder in SKIN_SETS:
        for path in sorted((data / folder).glob("*"))[:40]:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                continue
            rgb = np.ascontiguousarray(img[:, :, ::-1])
            faces = [f for f in det.detect(rgb) if f.landmarks is not None]
            if not faces:
                continue
            face = max(faces, key=lambda f: f.area)
            width = float(face.box[2] - face.box[0])
            r = max(2, int(width * 0.06))
            cheeks = [face.landmarks[i] for i in (50, 280)]  # FaceMesh cheek centres

            def cheek_mean(im):
                patches = [im[max(0, int(y) - r):int(y) + r, max(0, int(x) - r):int(x) + r].reshape(-1, 3)
                           for x, y in cheeks]
                return np.concatenate(patches).mean(0)

            if any(min(x, y) < r or x > rgb.shape[1] - r or y > rgb.shape[0] - r for x, y in cheeks):
                continue

            before = lab(cheek_mean(rgb))
            tones.append(float(before[0]))
            skin = face_skin_rgb(rgb, [face])
            for key, g in (("keep_skin", WARM), ("grade_skin", Grade(curves=WARM.curves, keep_skin=False))):
                after = lab(cheek_mean(cv2.LUT(rgb, grade_table(g, skin_rgb=skin))))
                d = after - before
                rows[key].append([d[0], d[1], d[2]])  # float input: L in 0..100
    out = {"faces": len(tones), "skin_L_range": [round(min(tones), 1), round(max(tones), 1)]}
    for key, vals in rows.items():
        v = np.asarray(vals)
        out[key] = {"mean_dL": round(float(v[:, 0].mean()), 2), "mean_da": round(float(v[:, 1].mean()), 2),
                    "mean_db": round(float(v[:, 2].mean()), 2),
                    "mean_abs_dE": round(float(np.linalg.norm(v, axis=1).mean()), 2),
                    "p95_abs_dE": round(float(np.percentile(np.linalg.norm(v, axis=1), 95)), 2)}
    log.info("skin: %s", out)
    return out


def _median_ms(fn, reps: int = 60) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(float(np.median(times)), 3)


def measure_cost(data: Path) -> dict:
    """Per 720p frame, over consecutive frames of a real talking-head clip (the network runs on every other one,
    the blur layer is remade with it): the network alone, the whole mask, the blur layer, the
    composite and their sum, the segmentation + background cost per frame."""
    frames = read_video(data / VIDEOS[0], 30, (1280, 720))  # a talking head, at 720p
    f = frames[10]
    seg = PersonSegmenter()
    bg = BackgroundStage(BackgroundConfig("blur", 0.6))
    compose = Compositor()
    out = np.empty_like(f)
    lut = grade_table(WARM)
    grade = ChannelLut()
    parts = {"mask": [], "layer": [], "composite": []}
    for rep in range(3):
        for frame in frames:
            t0 = time.perf_counter()
            mask = seg(frame)
            t1 = time.perf_counter()
            layer = bg.layer(frame, mask, low=seg.low)
            t2 = time.perf_counter()
            compose(frame, layer, mask, out)
            t3 = time.perf_counter()
            if rep:  # the first pass warms up
                for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                    parts[k].append(dt * 1000)
    mean = {k: round(float(np.mean(v)), 3) for k, v in parts.items()}
    return {"frame": "1280x720", "segment_network_ms": _median_ms(lambda: seg.infer(f)),
            "segment_total_ms": mean["mask"], "blur_layer_ms": mean["layer"], "composite_ms": mean["composite"],
            "segment_and_background_ms": round(sum(mean.values()), 3),
            "grade_lut_ms": _median_ms(lambda: grade(f, lut, out)),
            "note": "means per frame over consecutive frames of a 720p talking-head clip (the network on every other frame), one "
                    "OpenCV thread, on a 2-core machine; the pipeline runs mask and layer on the face stage's worker "
                    "thread, beside the styling"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("docs/scene/measures.json"))
    ap.add_argument("--only", default="flicker,boundary,skin,cost")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setNumThreads(1)
    parts = {"flicker": measure_flicker, "boundary": measure_boundary, "skin": measure_skin, "cost": measure_cost}
    doc = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.only.split(","):
        doc[name] = parts[name](args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
