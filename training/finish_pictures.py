"""Full-resolution close-ups of the skin finish: before, strength 0.5 and strength 1.

    python -m training.finish_pictures [DATA_ROOT] [--out docs/finish]

One picture per face (lighter skin, darker skin, a beard, glasses): the face cut from the full frame at
its own resolution and shown at 2x (nearest neighbour, so every frame pixel is visible), side by side:
the input, the finish at strength 0.5, and at strength 1 with the under-eye lift at 0.5.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from livefilter.finish.host import SkinFinish
from livefilter.finish.settings import FinishSettings
from livefilter.infra.atomic import write_bytes
from training.eval import finish as F
from training.eval import placement as P

log = logging.getLogger(__name__)

FACES = {  # picture name -> (folder, file)
    "lighter": ("deepface_tests", "img11.jpg"),
    "darker": ("vtoonify_data", "yRpe13BHdKw.jpg"),
    "bearded": ("deepface_tests", "img61.jpg"),
    "glasses": ("deepface_tests", "img25.jpg"),
}
SETTINGS = (("before", None), ("strength 0.5", FinishSettings(0.5)), ("strength 1, under-eye 0.5", FinishSettings(1.0, 0.5)))
SCALE = 2


def close_up(img: np.ndarray, lm: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): from the brows to the chin, cheek to cheek."""
    x0, x1 = lm[234, 0], lm[454, 0]
    y0, y1 = lm[[70, 300], 1].min() - 0.05 * (x1 - x0), lm[152, 1]
    return (int(max(x0, 0)), int(max(y0, 0)), int(min(x1, img.shape[1])), int(min(y1, img.shape[0])))


def picture(img: np.ndarray, lm: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = close_up(img, lm)
    panels = []
    for label, settings in SETTINGS:
        out = img.copy()
        if settings is not None:
            SkinFinish().apply(out, [lm], settings)
        crop = cv2.resize(out[y0:y1, x0:x1], None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
        bar = np.full((26, crop.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA)
        panels.append(np.concatenate([bar, crop], 0))
        panels.append(np.full((panels[-1].shape[0], 6, 3), 255, np.uint8))
    return np.concatenate(panels[:-1], 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("docs/finish"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (folder, file) in FACES.items():
        (img,) = P.read_photos([args.data / "faces" / folder / file])
        found = F.photo_faces([img])
        if not found:
            log.warning("no face found in %s", file)
            continue
        ok, png = cv2.imencode(".png", cv2.cvtColor(picture(img, found[0][1].landmarks), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 9])
        write_bytes(args.out / f"{name}.png", png.tobytes())
        log.info("wrote %s", args.out / f"{name}.png")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
