"""Distil the frozen teacher into the runtime student.

Loss: output L1 against the teacher (at a random strength the target is the linear mix
x + s * (teacher(x) - x), so strength is learned inside the network), intermediate feature
distillation through learned 1x1 adapters, and a small adversarial term from the teacher's
discriminator.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from livefilter.errors import ModelError
from training import losses as L
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import DistillConfig, TrainConfig
from training.models.discriminator import MultiScaleDiscriminator
from training.models.student import Student
from training.models.teacher import Teacher
from training.train import timed_step

log = logging.getLogger(__name__)


def load_teacher(run_dir: Path, device: torch.device) -> tuple[Teacher, MultiScaleDiscriminator, TrainConfig]:
    cfg_path = Path(run_dir) / "config.json"
    ckpt = Path(run_dir) / "checkpoints" / "teacher.safetensors"
    if not cfg_path.is_file() or not ckpt.is_file():
        raise ModelError(f"{run_dir} has no trained teacher (config.json + checkpoints/teacher.safetensors)")
    cfg = TrainConfig.load(cfg_path)
    cfg.teacher.num_looks = len(cfg.looks)
    G = Teacher(cfg.teacher).to(device)
    D = MultiScaleDiscriminator(heads=len(cfg.looks) + 1).to(device)
    load_checkpoint(ckpt, {"G": G, "D": D}, restore_rng=False)
    G.eval().requires_grad_(False)
    D.eval().requires_grad_(False)
    return G, D, cfg


class Adapters(nn.Module):
    """1x1 convs from student feature widths to teacher feature widths."""

    def __init__(self, student_ch: list[int], teacher_ch: list[int]) -> None:
        super().__init__()
        self.maps = nn.ModuleList(nn.Conv2d(s, t, 1) for s, t in zip(student_ch, teacher_ch))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(f) for m, f in zip(self.maps, feats)]


class DistillTrainer:
    def __init__(self, teacher_run: Path, cfg: DistillConfig, source: torch.Tensor, out_dir: Path,
                 device: str | None = None) -> None:
        self.cfg = cfg
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.T, self.D, self.tcfg = load_teacher(teacher_run, self.device)
        cfg.student.style_dim = self.tcfg.teacher.style_dim
        self.S = Student(cfg.student).to(self.device)
        b, tb = cfg.student.base, self.tcfg.teacher.base
        # student up3 (/4, 4b) <-> teacher res output (/4, 4tb); student up2 (/2, 2b) <-> teacher up1 (/2, 2tb)
        self.A = Adapters([4 * b, 2 * b], [4 * tb, 2 * tb]).to(self.device)
        self.opt = torch.optim.Adam(list(self.S.parameters()) + list(self.A.parameters()), cfg.lr, betas=(0.9, 0.99))
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, max(cfg.iterations, 1), eta_min=cfg.lr * 0.05)
        self.source = source
        self.out_dir = Path(out_dir)
        self.step = 0
        self.history: list[dict] = []

    @property
    def num_looks(self) -> int:
        return len(self.tcfg.looks)

    def style_codes(self) -> torch.Tensor:
        """(num_looks+1, style_dim): row 0 = no look; these go into look.json as style_code."""
        return self.T.looks.weight.detach().clone()

    def train_step(self) -> dict[str, float]:
        cfg, n = self.cfg, self.cfg.batch
        idx = torch.randint(0, len(self.source), (n,), generator=self.gen)
        x = self.source[idx].to(self.device)
        flip = torch.rand(n, generator=self.gen) < 0.5
        x[flip] = x[flip].flip(-1)
        look = torch.randint(1, self.num_looks + 1, (n,), generator=self.gen).to(self.device)
        strength = torch.where(torch.rand(n, generator=self.gen) < 0.5, torch.ones(n),
                               torch.rand(n, generator=self.gen)).to(self.device)
        style = self.T.looks(look)
        with torch.no_grad():
            t_out, t_feats = self.T(x, style, return_features=True)
            target = x + strength.view(-1, 1, 1, 1) * (t_out - x)
        s_out, s_feats = self.S(x, style, strength.view(-1, 1), return_features=True)
        adapted = self.A([s_feats[1], s_feats[2]])
        full = strength > 0.99
        feat_loss = sum(F.l1_loss(a[full], t[full]) for a, t in zip(adapted, t_feats[:2])) if full.any() else s_out.sum() * 0
        logits, _ = self.D(s_out[full], look[full]) if full.any() else ([s_out.sum() * 0], None)
        terms = {"l1": F.l1_loss(s_out, target), "feat": feat_loss, "adv": L.lsgan_g(logits)}
        loss = cfg.w_l1 * terms["l1"] + cfg.w_feat * terms["feat"] + cfg.w_adv * terms["adv"]
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in terms.items()} | {"loss": float(loss.detach())}

    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoints" / "student.safetensors"

    def save(self) -> Path:
        return save_checkpoint(
            self.checkpoint_path(), {"S": self.S, "A": self.A}, {"opt": self.opt},
            meta={"step": self.step, "config": asdict(self.cfg), "history": self.history[-2000:],
                  "style_dim": self.cfg.student.style_dim},
            generator=self.gen,
        )

    def resume(self) -> bool:
        if not self.checkpoint_path().is_file():
            return False
        meta = load_checkpoint(self.checkpoint_path(), {"S": self.S, "A": self.A}, {"opt": self.opt}, self.gen)
        self.step = int(meta.get("step", 0))
        self.history = list(meta.get("history", []))
        for _ in range(self.step):
            self.sched.step()
        return True

    def run(self, progress=None, stop=None) -> None:
        while self.step < self.cfg.iterations:
            if stop is not None and stop.is_set():
                break
            losses = timed_step(self)
            if self.step % 250 == 0:
                self.save()
            if progress:
                progress(self.step, losses)
        self.save()
