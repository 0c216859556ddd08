"""Before/after grids and loss curves for run folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def save_grid(rows: list[np.ndarray], path: Path, labels: list[str] | None = None) -> Path:
    """rows: list of (N,S,S,3) uint8 RGB; one row per list entry."""
    lines = []
    for i, row in enumerate(rows):
        line = np.concatenate(list(row), axis=1).copy()
        if labels:
            cv2.putText(line, labels[i], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        lines.append(line)
    grid = np.concatenate(lines, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), grid[:, :, ::-1])
    return path


def save_loss_plot(history: list[dict], path: Path) -> Path | None:
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in history[0] if k not in ("step", "sec", "look")]
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(9, 5))
    for k in keys:
        vals = np.array([h.get(k, np.nan) for h in history], float)
        if len(vals) > 20:
            kernel = np.ones(20) / 20
            vals = np.convolve(vals, kernel, mode="same")
        ax.plot(steps, vals, label=k, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
