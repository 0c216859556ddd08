"""A teacher run's summary for the repository: sizes, steps, time, hardware and the loss curves.

    python -m training.teacher.summary --run runs/teacher --arm runs/renderer-arm --out docs/teacher

Writes ``teacher_run.json`` (both networks' parameters and MACs at 128 and 256 px, their ratio, steps,
batch, seconds, hardware, per-window loss means) and ``curves.png`` (the teacher's makeup losses, the
student's distance to the renderer's targets for the teacher-distilled and the renderer-distilled arm).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.checkpoint import read_checkpoint

WINDOW = 25


def windows(history: list[dict], keys: tuple[str, ...]) -> list[dict]:
    out = []
    for i in range(0, len(history), WINDOW):
        w = history[i:i + WINDOW]
        out.append({"step": w[-1]["step"]} | {k: round(float(np.mean([h[k] for h in w if k in h])), 4)
                                              for k in keys if any(k in h for h in w)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/teacher"))
    ap.add_argument("--arm", type=Path, default=None, help="the renderer-distilled arm's family run")
    ap.add_argument("--out", type=Path, default=Path("docs/teacher"))
    args = ap.parse_args()
    from training.teacher.distill import STUDENT_FILE, export_student

    export_student(args.run)
    _, info = read_checkpoint(args.run / STUDENT_FILE)
    meta = info["meta"]
    _, tinfo = read_checkpoint(args.run / "teacher.safetensors")
    hist = tinfo["meta"]["history"]
    keys = ("pair", "desc", "adv", "d", "cycle", "id", "skin", "forbid", "perc", "gram", "tv", "student",
            "student_vs_renderer", "teacher_vs_renderer")
    cfg = tinfo["meta"]["config"]
    report = {"teacher_run": {"steps": meta["step"], "batch": cfg["batch"], "sizes": cfg["sizes"],
                              "seconds": meta["seconds"], "hardware": meta["hardware"],
                              "adv_start": cfg["adv_start"], "distill_ramp": cfg["distill_ramp"]},
              "complexity": meta["publish_extra"]["teacher"], "curves": windows(hist, keys)}
    arm_hist = []
    if args.arm is not None:
        _, ainfo = read_checkpoint(args.arm / STUDENT_FILE)
        arm_hist = ainfo["meta"]["history"]
        acfg = ainfo["meta"]["config"]
        report["renderer_arm"] = {"steps": ainfo["meta"]["step"], "batch": acfg["batch"], "sizes": acfg["sizes"],
                                  "seconds": ainfo["meta"]["seconds"], "curves": windows(arm_hist, ("loss", "l2"))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "teacher_run.json").write_text(json.dumps(report, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    cur = report["curves"]
    for k in ("pair", "desc", "student"):
        ax[0].plot([c["step"] for c in cur if k in c], [c[k] for c in cur if k in c], label=k)
    ax[0].set_title("teacher makeup losses / student loss")
    ax[0].set_yscale("log")
    ax[0].legend()
    ax[1].plot([c["step"] for c in cur], [c["student_vs_renderer"] for c in cur], label="teacher-distilled student")
    ax[1].plot([c["step"] for c in cur], [c["teacher_vs_renderer"] for c in cur], label="teacher")
    if arm_hist:
        aw = windows(arm_hist, ("l2",))
        ax[1].plot([c["step"] for c in aw], [c["l2"] * 1e3 for c in aw], label="renderer-distilled student (weighted)")
    ax[1].set_title("mean squared distance to the renderer target (x1e3)")
    ax[1].legend(fontsize=7)
    for a in ax:
        a.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(args.out / "curves.png", dpi=90)


if __name__ == "__main__":
    main()
