"""Full-resolution close-ups of where each look's makeup lands: mouth and eyes, before and after.

    python -m training.placement_pictures [DATA_ROOT] [--out docs/placement]

For faces never trained on (lighter skin with an open smile, darker skin, a bearded face, an open mouth
mid-speech), one picture per face: a row per look, each row the mouth and both eyes cut from the full frame
at its own resolution and shown at 2x (nearest neighbour, so every frame pixel is visible): the unstyled
frame, the look as the network painted it (no placement) and the look as livefilter ships it.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from livefilter.infra.atomic import write_bytes
from livefilter.detect.topology import LIPS
from livefilter.composite.placement import EYE_POLYGONS
from livefilter.types import Tracked
from training.eval import placement as P

log = logging.getLogger(__name__)

FACES = {  # picture name -> (folder, file, what it shows)
    "lighter-smile": ("dualstylegan_content", "019706.jpg", "lighter skin, open smile"),
    "darker-smile": ("face_recognition_examples", "obama.jpg", "darker skin, open smile"),
    "bearded": ("face_recognition_examples", "alex-lacamoire.png", "beard and moustache, open smile"),
    "speaking": ("liveportrait_driving_frames", "d19.jpg", "open mouth mid-word"),
    "darker-closed": ("vtoonify_data", "yRpe13BHdKw.jpg", "darker skin, mouth closed"),
}
LOOKS = ("glam", "natural", "bold-lip", "soft-glow", "toon")
SCALE = 2


def _box(pts: np.ndarray, pad: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    lo, hi = pts.min(0), pts.max(0)
    m = pad * (hi - lo).max()
    x0, y0 = np.floor(lo - m).astype(int).clip(0)
    x1, y1 = np.ceil(hi + m).astype(int)
    return x0, y0, min(x1, shape[1]), min(y1, shape[0])


def _cut(img: np.ndarray, box: tuple[int, int, int, int], height: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = cv2.resize(img[y0:y1, x0:x1], None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    out = np.full((height, crop.shape[1], 3), 255, np.uint8)
    out[:crop.shape[0]] = crop[:height]
    return out


def _label(img: np.ndarray, text: str, width: int = 150) -> np.ndarray:
    out = np.full((img.shape[0], img.shape[1] + width, 3), 255, np.uint8)
    out[:, width:] = img
    for i, line in enumerate(text.split("\n")):
        cv2.putText(out, line, (6, 22 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def face_picture(img: np.ndarray, title: str) -> np.ndarray:
    before_p = P.host_pipeline(LOOKS[0], max_faces=1)
    before_p.tracker.reset()
    faces = before_p.tracker.update(img)
    if not faces:
        raise ValueError(f"no face found for {title}")
    lm = faces[0].landmarks
    boxes = [_box(lm[list(LIPS)], 0.25, img.shape[:2])]
    eyes = np.concatenate([lm[list(p)] for p in EYE_POLYGONS])
    boxes.append(_box(eyes, 0.12, img.shape[:2]))
    height = max((b[3] - b[1]) * SCALE for b in boxes)
    gap = np.full((height, 8, 3), 255, np.uint8)

    def row(frame: np.ndarray, text: str) -> np.ndarray:
        return _label(np.concatenate([_cut(frame, boxes[0], height), gap, _cut(frame, boxes[1], height)], 1), text)

    rows = [row(img, "before")]
    for look in LOOKS:
        for placed in (False, True):
            p = P.host_pipeline(look, max_faces=1, placement=placed)
            p.tracker.reset()
            out = p.process(img.copy(), Tracked([faces[0]]))
            rows.append(row(out, f"{look}\n{'placed (shipped)' if placed else 'network only'}"))
    sep = lambda r: np.concatenate([r, np.full((6, r.shape[1], 3), 255, np.uint8)], 0)  # noqa: E731
    body = np.concatenate([sep(r) for r in rows], 0)
    head = np.full((30, body.shape[1], 3), 255, np.uint8)
    cv2.putText(head, title, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    return np.concatenate([head, body], 0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "placement")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from livefilter.demo.clip import load_rgb

    args.out.mkdir(parents=True, exist_ok=True)
    for name, (folder, file, what) in FACES.items():
        img = load_rgb(args.data / "faces" / folder / file)
        pic = face_picture(img, f"{what} ({folder}/{file}, {img.shape[1]}x{img.shape[0]}): mouth and eyes at {SCALE}x")
        ok, data = cv2.imencode(".png", pic[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        write_bytes(args.out / f"{name}.png", data.tobytes())
        log.info("wrote %s", args.out / f"{name}.png")


if __name__ == "__main__":
    main()
