"""Where every shipped look's makeup lands, before and after the placement, at full frame resolution.

    python -m training.placement_table [DATA_ROOT] [--out training/placement_measures.json]

For each look, with the placement off (the residual as the network paints it) and on: the eval photos
(folders never trained on, one face a frame and four in 2x2 mosaics) and three talking clips (a streamer,
a speech, a head-turning portrait), at the CPU and GPU input sizes, through the host pipeline. Writes the
JSON (every summary, per skin-tone group) and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from livefilter.infra.atomic import write_text
from training.eval import placement as P
from training.makeup.dataset import EVAL_FOLDERS

log = logging.getLogger(__name__)

LOOKS = ("glam", "natural", "bold-lip", "soft-glow", "toon")
CLIPS = (("deepfacelive", "Twitch1.mp4"), ("deepfacelive", "Obama_speaking.mp4"), ("liveportrait", "d0.mp4"))
COLUMNS = (("inner_mouth_delta_e", "inner-mouth ΔE", 2), ("spill", "spill", 3),
           ("under_eye_delta_l", "under-eye ΔL", 2), ("lid_asymmetry", "lid asym.", 2),
           ("cheek_asymmetry", "cheek asym.", 2), ("lip_texture", "lip texture", 2), ("lips_delta_e", "lips ΔE", 1))


def measure_all(data: Path, frames: int) -> dict:
    faces = data / "faces"
    paths = sorted(p for f in EVAL_FOLDERS for p in (faces / f).iterdir() if p.suffix.lower() in (".jpg", ".png"))
    photos = P.read_photos(paths)
    clip = [f for folder, name in CLIPS for f in P.read_video(data / "video" / folder / name, frames)]
    doc: dict = {"photos": len(photos), "eval_folders": list(EVAL_FOLDERS), "clips": ["/".join(c) for c in CLIPS],
                 "frames_per_clip": frames, "looks": {}}
    for look in LOOKS:
        t = time.time()
        doc["looks"][look] = {state: P.measure_look(look, photos, clip, placement=state == "after")
                              for state in ("before", "after")}
        log.info("%s measured in %.0f s", look, time.time() - t)
    return doc


def _cell(summary: dict, key: str, digits: int) -> str:
    v = summary[key]["mean"]
    return "–" if v is None else f"{v:.{digits}f}"


def markdown(doc: dict) -> str:
    head = "| look | size | frames | | " + " | ".join(label for _, label, _ in COLUMNS) + " | skin abs ΔL lighter / darker |"
    rows = [head, "|" + "---|" * (len(COLUMNS) + 5)]
    for look, states in doc["looks"].items():
        for size in states["after"]:
            for name in states["after"][size]:
                for state in ("before", "after"):
                    s = states[state][size][name]
                    tone = s["skin_tone"]
                    skin = " / ".join("–" if tone[g]["skin_abs_delta_l"] is None else f"{tone[g]['skin_abs_delta_l']:.2f}"
                                      for g in ("lighter", "darker"))
                    rows.append(f"| {look} | {size} | {name.replace('_', ' ')} ({s['faces']}) | {state} | "
                                + " | ".join(_cell(s, k, d) for k, _, d in COLUMNS) + f" | {skin} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("placement_measures.json"))
    ap.add_argument("--frames", type=int, default=40, help="frames of each clip")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    doc = measure_all(args.data, args.frames)
    write_text(args.out, json.dumps(doc, indent=1) + "\n")
    write_text(args.out.with_suffix(".md"), markdown(doc))
    log.info("wrote %s and %s", args.out, args.out.with_suffix(".md"))


if __name__ == "__main__":
    main()
