"""Before/after pictures of the scene stage for the README (``docs/scene/``): background blur,
background replacement, a colour grade learnt from photos, and the mask's edge refinement.

    python -m training.scene_pictures --data ../shared/data --out docs/scene

The frames come from the shared test data (read in place); the replacement background is drawn here
(a soft studio gradient with bokeh discs), so nothing third-party is committed but these pictures.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from livefilter.looks.grade_learn import describe_grade, learn_grade
from livefilter.scene.grade import grade_table
from livefilter.scene.segment import PersonSegmenter, SegmentConfig
from livefilter.scene.stage import LookScene, SceneControls, SceneStage

log = logging.getLogger(__name__)

CLIP = "video/deepfacelive/Twitch1.mp4"
CLIP_FRAME = 120
PORTFOLIO = "faces/makeup_ybeauty/makeup"  # a beauty-filter set: the "influencer's photos" of the grade demo


def frames_of(path: Path, upto: int) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i > upto:
                break
            out.append(f.to_ndarray(format="rgb24"))
    return out


def studio_background(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (yy / h)[..., None]
    img = (1 - t) * np.array([38, 70, 120], np.float32) + t * np.array([190, 120, 90], np.float32)
    rng = np.random.default_rng(3)
    for _ in range(28):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h * 0.7), rng.uniform(0.02, 0.07) * w
        colour = rng.uniform(170, 255, 3).astype(np.float32)
        disc = np.clip(1.2 - np.hypot(xx - cx, yy - cy) / r, 0, 1)[..., None] * rng.uniform(0.15, 0.45)
        img = img * (1 - disc) + colour * disc
    return cv2.GaussianBlur(img, (0, 0), 3).clip(0, 255).astype(np.uint8)


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (12 + 11 * len(text), 30), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def save(path: Path, panels: list[np.ndarray]) -> None:
    img = np.concatenate(panels, 1)
    ok, jpg = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 86])
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(jpg.tobytes())
    tmp.replace(path)
    log.info("wrote %s (%d KB)", path, len(jpg) // 1024)


def scene_run(frames: list[np.ndarray], controls: SceneControls, look: LookScene | None = None) -> np.ndarray:
    """The last frame through the scene stage after the clip before it (the smoothing settles), with
    the faces the runtime's detector finds (the grade keeps their skin tone)."""
    from livefilter.detect import create_detector

    det = create_detector()
    stage = SceneStage()
    out = None
    for f in frames:
        out = stage.apply(f.copy(), det.detect(f), controls, look)
    return out


HANDCHECK = ("deepfacelive/Obama_speaking.mp4", "deepfacelive/Twitch1.mp4", "deepfacelive/Ben_Stiller_Owen_Wilson.mp4",
             "vtoonify/651.mp4", "liveportrait/d6.mp4", "face_recognition/short_hamilton_clip.mp4",
             "liveportrait/s13.mp4", "vtoonify/908.mp4")


def handcheck(data: Path, out: Path) -> None:
    """Frame 45 of eight clips and its mask over green (the smoothing settled over the frames before)."""
    tiles = []
    for rel in HANDCHECK:
        frames = frames_of(data / "video" / rel, 44)
        seg = PersonSegmenter()
        for f in frames:
            m = seg(f)
        f = frames[-1]
        green = np.zeros_like(f)
        green[..., 1] = 190
        comp = (f * m[..., None] + green * (1 - m[..., None])).astype(np.uint8)
        tiles.append(cv2.resize(np.hstack([f, comp]), (640, 240), interpolation=cv2.INTER_AREA))
    save(out, [np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)])])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("docs/scene"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    frames = frames_of(args.data / CLIP, CLIP_FRAME)[-30:]
    frame = frames[-1]
    h, w = frame.shape[:2]

    blurred = scene_run(frames, SceneControls(background="blur", blur=0.8))
    save(args.out / "blur.jpg", [label(frame, "before"), label(blurred, "background blur 0.8")])

    bg_path = args.out / "studio.png"
    cv2.imwrite(str(bg_path), studio_background(h, w)[:, :, ::-1])
    replaced = scene_run(frames, SceneControls(background="replace", source=bg_path))
    bg_path.unlink()
    save(args.out / "replace.jpg", [label(frame, "before"), label(replaced, "background replaced")])

    photos = [cv2.imread(str(p))[:, :, ::-1] for p in sorted((args.data / PORTFOLIO).glob("*")) if cv2.imread(str(p)) is not None]
    grade = learn_grade([np.ascontiguousarray(p) for p in photos], strength=0.8)
    log.info("grade from %d photos: %s", len(photos), describe_grade(grade))
    graded = scene_run(frames, SceneControls(background="blur", blur=0.5), LookScene(grade=grade))
    plain = scene_run(frames, SceneControls(), LookScene(grade=grade))
    strip = np.concatenate([cv2.resize(p, (h // 3, h // 3), interpolation=cv2.INTER_AREA) for p in photos[:3]], 0)
    strip = cv2.resize(strip, (strip.shape[1] * h // strip.shape[0], h))
    save(args.out / "grade.jpg", [label(strip, "their photos"), label(frame, "before"), label(plain, "their grade"),
                                  label(graded, "grade + blur")])
    lut = grade_table(grade, 0.8)
    log.info("grade table mid-grey (128) -> %s", lut[0, 128].tolist())

    handcheck(args.data, args.out / "handcheck.jpg")
    seg_raw, seg = PersonSegmenter(SegmentConfig(refine=False)), PersonSegmenter()
    for f in frames:
        raw, refined = seg_raw(f).copy(), seg(f).copy()
    y0, x0, ch, cw = int(h * 0.05), int(w * 0.3), int(h * 0.4), int(w * 0.4)  # the hair and shoulder line

    def crop(m):
        c = m[y0:y0 + ch, x0:x0 + cw]
        return cv2.resize(c, (cw * 2, ch * 2), interpolation=cv2.INTER_NEAREST)

    overlay = lambda m: (frame * (0.35 + 0.65 * m[..., None])).astype(np.uint8)  # noqa: E731
    save(args.out / "edges.jpg", [label(crop(frame), "frame (2x)"), label(crop(overlay(raw)), "network, upsampled"),
                                  label(crop(overlay(refined)), "guided filter")])


if __name__ == "__main__":
    main()
