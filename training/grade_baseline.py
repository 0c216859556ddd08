"""Measure the neutral baseline a look's colour grade is learnt against (``livefilter/looks/grade_baseline.json``).

The baseline is the median per-channel quantiles of ordinary, ungraded photos of people (the
shared test data's everyday photo sets), measured exactly as ``looks create`` measures a look's photos
(:func:`livefilter.looks.grade_learn.photo_quantiles`)::

    python -m training.grade_baseline --data ../shared/data --out livefilter/looks/grade_baseline.json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from livefilter.looks.grade_learn import QUANTILES, photo_quantiles

log = logging.getLogger(__name__)

#: everyday photos of people (no stylised, painted, black-and-white or made-up sets)
SETS = ("faces/face_recognition_examples", "faces/deepfacelive_samples_photos", "faces/celeba_subset_hfig")


def measure(data: Path) -> tuple[np.ndarray, int]:
    qs = []
    for folder in SETS:
        for path in sorted((data / folder).glob("*")):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                continue
            rgb = img[:, :, ::-1]
            if np.abs(rgb[..., 0].astype(int) - rgb[..., 2]).mean() < 2:  # black and white
                continue
            qs.append(photo_quantiles(np.ascontiguousarray(rgb)))
    if not qs:
        raise SystemExit(f"no photos under {data}")
    return np.median(np.stack(qs), axis=0), len(qs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("livefilter/looks/grade_baseline.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    q, n = measure(args.data)
    doc = {"about": "Median per-channel (R, G, B) quantiles of ordinary, ungraded photos of people "
                    f"({', '.join(SETS)} of the shared test data), measured at 256 px: the neutral baseline a "
                    "look's colour grade is learnt against.",
           "photos": n, "levels": list(QUANTILES), "quantiles": [[round(float(v), 2) for v in row] for row in q]}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(args.out)
    log.info("%d photos -> %s", n, args.out)


if __name__ == "__main__":
    main()
