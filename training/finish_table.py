"""The skin finish's measures as a table, per strength and skin-tone group.

    python -m training.finish_table [DATA_ROOT] [--out training/finish_measures]

The eval photos (``faces/deepfacelive_samples_photos``, 100 photos of many skin tones) plus a bearded face
and a face with glasses, and the first 90 frames of a talking-head clip (flicker); writes ``.json`` and
``.md`` (what the README quotes).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from livefilter.infra.atomic import write_text
from training.eval import finish as F
from training.eval import placement as P

log = logging.getLogger(__name__)

EXTRA = (("deepface_tests", "img61.jpg"), ("deepface_tests", "img25.jpg"))
VIDEO = ("video", "deepfacelive", "Obama_speaking.mp4")
COLUMNS = (("hf_reduction", "skin texture energy removed (>= 40 % at 1)", "{:.0%}"),
           ("skin_delta_l", "skin ΔL (\\|·\\| <= 1)", "{:+.2f}"), ("skin_delta_a", "skin Δa (<= 1.5)", "{:+.2f}"),
           ("skin_delta_b", "skin Δb (<= 1.5)", "{:+.2f}"), ("eyes_kept", "eyes kept", "{:.2f}"),
           ("brows_kept", "brows kept", "{:.2f}"), ("lips_kept", "lips kept", "{:.2f}"),
           ("beard_kept", "beard kept (>= 0.9)", "{:.2f}"), ("seam", "seam", "{:.2f}"))


def markdown(report: dict) -> str:
    lines = ["| strength | skin | faces | " + " | ".join(c[1] for c in COLUMNS) + " | same person |",
             "|---" * (len(COLUMNS) + 4) + "|"]
    for strength, summary in report["photos"].items():
        ident = summary["identity"]
        same = f"{ident['same_person_rate']:.0%}" if ident.get("measured") else "not measured"
        for group in ("lighter", "darker"):
            s = summary[group]
            cells = [fmt.format(s[k]["mean"]) + (f" (n={s[k]['n']})" if k == "beard_kept" else "")
                     if s[k]["mean"] is not None else "–" for k, _, fmt in COLUMNS]
            lines.append(f"| {strength} | {group} | {s['faces']} | " + " | ".join(cells) + f" | {same} |")
    video = report["video"]
    lines += ["", "Flicker on a talking-head clip (output frame-to-frame change over the input's, face region, "
              f"{video['frames']} frames): " + ", ".join(f"strength {k} {v['flicker_ratio']:.2f}x"
                                                        for k, v in video.items() if isinstance(v, dict))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("training/finish_measures"))
    args = ap.parse_args(argv)
    faces = args.data / "faces"
    paths = sorted((faces / "deepfacelive_samples_photos").glob("*.jpg")) + [faces / a / b for a, b in EXTRA]
    report = {"photos": F.measure_photos(P.read_photos(paths)),
              "video": F.measure_video(P.read_video(args.data.joinpath(*VIDEO), 90))}
    write_text(args.out.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    write_text(args.out.with_suffix(".md"), markdown(report))
    log.info("%s", markdown(report))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
