"""Temporal stability and seam study on real videos: each measure on and off, full pipeline.

Flicker = mean frame-to-frame change of the output inside the styled face region divided by the
input's own change there (1.0 = the look adds no flicker); the warped flicker is the same ratio after each
frame's predecessor is moved onto it along the input's optical flow (``metrics.warped_flicker_ratio``), so
makeup that moves with the face is not counted, only change the face's motion does not explain. Seam = colour-gradient energy on the
composite mask's boundary relative to its interior, for the output and (as a reference) the input.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from livefilter.align.host import invert_affine
from livefilter.infra.atomic import write_text
from livefilter.detect import TrackerConfig, create_tracker
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from training.eval import metrics as M
from training.eval.placement import read_video, video_rate

VARIANTS = {
    "raw landmarks": {"smoothing": False, "temporal": 0.0},
    "one-euro": {"smoothing": True, "temporal": 0.0},
    "one-euro + temporal 0.5": {"smoothing": True, "temporal": 0.5},
}


def measure(video: Path, look: str, variant: dict, frames: int = 90, pair_errors: bool = False) -> dict:
    """Flicker (plain and warped) and seam of ``look`` on the first ``frames`` of ``video``; ``pair_errors``:
    also each pair of consecutive frames' warping errors, output and input (``metrics.warping_errors``)."""
    imgs, fps = read_video(video, frames), video_rate(video)
    tracker = create_tracker(TrackerConfig(fps=fps, smoothing=variant["smoothing"]))
    p = build_pipeline(PipelineSettings(look=look, temporal=variant["temporal"]), LookRegistry(), tracker=tracker)
    rt = p.runtime(look)
    outs, masks, seams = [], [], []
    for img in imgs:
        out = p.process(img.copy())
        outs.append(out)
        if p.last_faces:
            f = p.last_faces[0]
            m = rt.aligner.transform(f.keypoints)
            crop = rt.aligner.warp(img, m[None])[0]
            mask = cv2.warpAffine(rt.masker.face(f.landmarks, m, 0, crop), invert_affine(m), img.shape[1::-1])
            masks.append(mask)
            seams.append((M.seam_ratio(out, mask), M.seam_ratio(img, mask)))
    region = np.clip(np.mean(masks, 0), 0, 1) if masks else None
    s_out, s_in = (float(np.nanmean([s[k] for s in seams])) for k in (0, 1))
    e_out, e_in = M.warping_errors(imgs, outs, region)
    res = {"flicker_ratio": round(M.flicker_ratio(imgs, outs, region), 3),
           "warped_flicker_ratio": round(M.warped_ratio(e_out, e_in), 3),
           "seam_ratio": round(s_out, 3), "seam_ratio_input": round(s_in, 3), "frames": len(imgs)}
    if pair_errors:
        res["pair_errors"] = {"output": e_out.tolist(), "input": e_in.tolist()}
    return res


def study(videos: list[Path], look: str, out: Path | None = None) -> dict:
    result = {v.name: {name: measure(v, look, var) for name, var in VARIANTS.items()} for v in videos}
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text(out, json.dumps({"look": look, "results": result}, indent=2) + "\n")
    return result


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "shared" / "data"
    vids = [root / "video" / "deepfacelive" / "Obama_speaking.mp4", root / "video" / "liveportrait" / "d3.mp4"]
    print(json.dumps(study(vids, "glam", Path("benchmarks/results/quality-glam-cpu.json")), indent=2))
