"""Train the conditional student on the makeup renderer's pseudo-paired targets.

TinyBeauty's lesson: a small residual student trained with plain L1 on good pairs reaches high
quality; the targets are what limit it. Here every batch is rendered on the fly from the face, its
region masks and a sampled look code, so the student sees an unlimited supply of exact pairs. The
loss weighs the small regions (lips, lids, liner, brows) up, and adds an L1 in CIELAB so chroma
errors on the lips count as much as a viewer sees them.

Each batch is drawn at 128 or 256 px: one fully convolutional student serves the CPU input size
(128) and the GPU input size (256) from the same weights.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from livefilter.looks.code import CODE_DIM
from livefilter.composite.regions import REGION_NAMES
from training.checkpoint import load_checkpoint, save_checkpoint
from training.makeup.colour import rgb_to_lab
from training.makeup.dataset import FaceSet
from training.makeup.render import render
from training.makeup.sampler import CodeSampler
from training.models.student import Student, StudentConfig

log = logging.getLogger(__name__)
_R = {n: i for i, n in enumerate(REGION_NAMES)}


@dataclass
class FamilyConfig:
    iterations: int = 3000
    batch: int = 8
    lr: float = 2e-3
    seed: int = 0
    sizes: tuple[int, ...] = (128, 256)
    threads: int = 2
    w_lab: float = 0.002  # CIELAB squared error (units of L/a/b), so lip chroma counts as seen
    w_l2: float = 100.0
    w_small: float = 10.0  # extra weight on lips, lids, liner and brows: small regions the viewer looks at
    w_cheeks: float = 2.0  # extra weight on blush, contour and highlight
    checkpoint_every: int = 250
    student: StudentConfig = field(default_factory=lambda: StudentConfig(base=16, style_dim=CODE_DIM, mid_blocks=2))


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255.0)


class FamilyTrainer:
    def __init__(self, cfg: FamilyConfig, faces: FaceSet, sampler: CodeSampler, run_dir: Path) -> None:
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.cfg, self.faces, self.sampler, self.run_dir = cfg, faces, sampler, Path(run_dir)
        self.student = Student(cfg.student)
        self._init_conditioning()
        self.opt = torch.optim.Adam(self.student.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.seconds = 0.0  # training wall time over every session of this run
        self.history: list[dict] = []

    def _init_conditioning(self) -> None:
        """Start with the look code already steering the features.

        The shared layers zero-initialise FiLM and the head (a GAN student starts as the identity).
        Here that is a saddle: with FiLM at zero every look looks the same to the head, whose best
        look-independent residual under L1 is zero, so no gradient ever reaches FiLM. Small random
        FiLM projections and head break it; strength 0 is still exactly the input (out = x + s * r).
        """
        from training.models.layers import FiLM

        for m in self.student.modules():
            if isinstance(m, FiLM):
                torch.nn.init.normal_(m.proj.weight, std=0.05)
        torch.nn.init.normal_(self.student.head.weight, std=0.02)

    def lr_at(self, step: int) -> float:
        warm = 100
        if step < warm:
            return self.cfg.lr * (step + 1) / warm
        t = (step - warm) / max(1, self.cfg.iterations - warm)
        return 5e-5 + 0.5 * (self.cfg.lr - 5e-5) * (1 + math.cos(math.pi * min(1.0, t)))

    def batch(self, n: int, size: int | None = None) -> dict[str, torch.Tensor]:
        f = self.faces
        idx = self.rng.integers(len(f), size=n)
        img, smooth, painted = _tensor(f.crops[idx]), _tensor(f.smooth[idx]), _tensor(f.painted[idx])
        masks = torch.from_numpy(f.masks[idx]).float().div(255.0)
        edges = torch.from_numpy(f.edges[idx]).float().div(255.0).unsqueeze(1)
        gain = torch.from_numpy(self.rng.uniform(0.85, 1.15, (n, 1, 1, 1)).astype(np.float32))
        img, smooth, painted = (torch.clamp(t * gain, 0, 1) for t in (img, smooth, painted))
        flip = torch.from_numpy(self.rng.random(n) < 0.5)
        if flip.any():  # the regions are left/right symmetric by construction, so they flip with the face
            for t in (img, smooth, painted, masks, edges):
                t[flip] = t[flip].flip(-1)
        size = size or int(self.rng.choice(self.cfg.sizes))
        if size != img.shape[-1]:
            img, smooth, painted, masks, edges = (F.interpolate(t, size=(size, size), mode="area")
                                                  for t in (img, smooth, painted, masks, edges))
        code = torch.from_numpy(self.sampler.batch(n))
        with torch.no_grad():
            target = render(img, masks, code, smooth, painted, edges)
        return {"image": img, "target": target, "masks": masks, "code": code}

    def weights(self, masks: torch.Tensor) -> torch.Tensor:
        small = masks[:, [_R["lips"], _R["eyeshadow"], _R["eyeliner"], _R["brows"]]].sum(1, keepdim=True)
        cheeks = masks[:, [_R["blush"], _R["contour"], _R["highlight"]]].sum(1, keepdim=True)
        return 1.0 + self.cfg.w_small * small.clamp(max=1) + self.cfg.w_cheeks * cheeks.clamp(max=1)

    def train_step(self) -> dict[str, float]:
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.step)
        b = self.batch(self.cfg.batch)
        x = b["image"] * 2 - 1
        y = self.student(x, b["code"], torch.ones(len(x), 1))
        out = (y + 1) / 2
        w = self.weights(b["masks"])
        err = out - b["target"]
        l1 = (w * err.abs()).mean()
        l2 = (w * err ** 2).mean()
        lab_err = rgb_to_lab(out) - rgb_to_lab(b["target"])
        lab = (w * lab_err ** 2).mean()
        # Squared errors only: most pixels keep their input colour, and L1's constant pull towards a
        # zero residual there holds the student at the identity (measured: no progress in 500 steps).
        loss = self.cfg.w_l2 * l2 + self.cfg.w_lab * lab
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"loss": float(loss.detach()), "l1": float(l1.detach()), "l2": float(l2.detach()),
                "lab": float(lab.detach())}

    def checkpoint_path(self) -> Path:
        return self.run_dir / "family_student.safetensors"

    def save(self) -> Path:
        meta = {"step": self.step, "seconds": round(self.seconds, 1), "config": asdict(self.cfg),
                "history": self.history[-2000:]}
        return save_checkpoint(self.checkpoint_path(), {"student": self.student}, {"student": self.opt}, meta)

    def resume(self) -> bool:
        p = self.checkpoint_path()
        if not p.is_file():
            return False
        meta = load_checkpoint(p, {"student": self.student}, {"student": self.opt})  # returns the meta dict
        self.step = int(meta.get("step", 0))
        self.seconds = float(meta.get("seconds", 0.0))
        self.history = list(meta.get("history", []))
        self.rng = np.random.default_rng(self.cfg.seed + self.step)
        return True

    def run(self, progress=None, stop=None) -> None:
        t0 = time.perf_counter()
        before = self.seconds
        while self.step < self.cfg.iterations:
            if stop is not None and stop.is_set():
                break
            losses = self.train_step()
            losses["step"] = self.step
            losses["sec"] = round(time.perf_counter() - t0, 2)
            self.seconds = before + losses["sec"]
            self.history.append({k: round(float(v), 5) for k, v in losses.items()})
            if progress:
                progress(self.step, losses)
            if self.step % self.cfg.checkpoint_every == 0:
                self.save()
        self.save()
