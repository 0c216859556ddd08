"""Measure ``looks create``: creation time for 5/10/30 photos, fidelity before/after ``--finetune``, a picture.

Each created look is measured on plain eval faces that no training ever saw (whole held-out folders)
through ``training.eval.look_effect.measure`` (the runtime's translator and compositing, FaceMesh
regions, FaceNet identity), against the robust-mean region descriptors of its own reference photos.
Writes ``training/created_looks.json`` and ``training/created_looks.png`` (reference photos | before |
after, one row per created look).

    python -m training.created_looks [--student LOOK] [--finetune 1.0] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from livefilter.align.host import Aligner
from livefilter.looks.create import CreateOptions, LookCreator
from livefilter.looks.photos import read_photo
from livefilter.looks.registry import LookRegistry
from training.data import prepare_crops
from training.eval.look_effect import measure
from training.eval.report import fidelity
from training.makeup.dataset import EVAL_FOLDERS  # whole folders held out of every training run

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
REFERENCE_SETS = {"honlan": "makeup_beautygan_honlan/makeup", "ybeauty": "makeup_ybeauty/makeup"}
EXTRA_PHOTOS = "deepface_tests"  # other real photos, to reach 30 for the timing


def _photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


def _tile(img: np.ndarray, size: int = 128) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _ref_thumb(path: Path, creator: LookCreator) -> np.ndarray:
    crop, _ = creator.face_of(read_photo(path), Aligner(128, 0.25))
    return crop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--student", default=None, help="look whose student to use (default: the shipped family)")
    ap.add_argument("--data", type=Path, default=HERE.parents[1] / "shared" / "data")
    ap.add_argument("--finetune", type=float, default=1.0, help="minutes")
    ap.add_argument("--eval-faces", type=int, default=24)
    ap.add_argument("--out", type=Path, default=HERE / "created_looks")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    faces = args.data / "faces"
    home = Path(tempfile.mkdtemp(prefix="lf-created-"))
    os.environ["LIVEFILTER_HOME"] = str(home)  # created looks go to a scratch looks folder
    registry = LookRegistry()
    creator = LookCreator(registry, student=args.student, threads=2)
    evl = prepare_crops([faces / f for f in EVAL_FOLDERS], Aligner(128, 0.25))
    idx = np.linspace(0, len(evl) - 1, min(args.eval_faces, len(evl))).round().astype(int)
    crops, marks = evl.crops[idx], evl.landmarks[idx]
    from training.eval import identity

    emb = identity.embed(crops) if identity.available() else None
    report: dict = {"eval_faces": len(crops), "eval_folders": list(EVAL_FOLDERS), "student": None, "looks": {},
                    "timing": {}}
    rows = []
    for name, rel in REFERENCE_SETS.items():
        refs = _photos(faces / rel)
        entry: dict = {"references": rel, "photos": len(refs)}
        outs = {}
        for tag, minutes in (("encoded", 0.0), ("finetuned", args.finetune)):
            made = creator.create(refs, CreateOptions(f"{name}-{tag}", finetune_minutes=minutes))
            report["student"] = made.look.training["student_from"]
            metrics, after = measure(made.look, crops, marks, made.look.training["reference_descriptors"],
                                     input_embeddings=emb)
            entry[tag] = {"seconds": round(made.seconds, 1), "code": made.code.to_dict(), "finetune": made.finetune,
                          "reference_distance_before": metrics["reference_distance_before"],
                          "reference_distance_after": metrics["reference_distance_after"],
                          "skin_abs_delta_l": metrics["skin"]["abs_delta_l"], "skin_tone": metrics["skin_tone"],
                          "lips_delta_e": metrics["lips"]["delta_e"], "identity": metrics.get("identity"),
                          "fidelity": fidelity(metrics)}
            outs[tag] = after
            log.info("%s %s: %s", name, tag, json.dumps(entry[tag]["fidelity"]))
        report["looks"][name] = entry
        show = [0, len(crops) // 3, 2 * len(crops) // 3]
        step = max(1, len(refs) // 3)
        thumbs = [_ref_thumb(p, creator) for p in refs[::step][:3]]
        rows.append(np.concatenate(thumbs + [np.full((128, 8, 3), 255, np.uint8)] + [crops[i] for i in show]
                                   + [np.full((128, 8, 3), 255, np.uint8)] + [outs["finetuned"][i] for i in show], 1))
    head = np.full((28, rows[0].shape[1], 3), 255, np.uint8)
    for x, text in ((4, "reference photos"), (3 * 128 + 12, "eval faces, before"), (6 * 128 + 20, "after (created look)")):
        cv2.putText(head, text, (x, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.concatenate([head] + [np.concatenate([r, np.full((8, r.shape[1], 3), 255, np.uint8)], 0)
                                    for r in rows], 0)
    out_png, out_json = args.out.with_suffix(".png"), args.out.with_suffix(".json")
    ok, png = cv2.imencode(".png", grid[:, :, ::-1])
    tmp = out_png.with_name("." + out_png.name + ".tmp")
    tmp.write_bytes(png.tobytes())
    tmp.replace(out_png)
    if not args.skip_timing:
        pool = _photos(faces / "makeup_beautygan_honlan" / "makeup") + _photos(faces / "makeup_ybeauty" / "makeup") \
            + _photos(faces / "makeup_elegant" / "makeup") + _photos(faces / "makeup_psgan" / "makeup") \
            + _photos(faces / EXTRA_PHOTOS)
        for n in (5, 10, 30):
            t0 = time.perf_counter()
            made = creator.create(pool[:n], CreateOptions(f"timing-{n}"))
            report["timing"][str(n)] = {"seconds": round(time.perf_counter() - t0, 2), "used": made.used,
                                        "rejected": len(made.rejected)}
            log.info("%d photos: %.1f s", n, time.perf_counter() - t0)
        report["timing"]["note"] = ("warm creator (detector and encoder loaded); 2 onnxruntime threads on a 2-core "
                                    "CPU shared with a training run")
    tmp = out_json.with_name("." + out_json.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(out_json)
    print(json.dumps({k: report[k] for k in ("timing", "eval_faces")}, indent=1))


if __name__ == "__main__":
    main()
