"""Teacher GAN training (single process, or DDP under torchrun)."""

from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from livefilter.align.host import Aligner
from livefilter.errors import InputError
from training import losses as L
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.data import face_mask, prepare_crops, region_masks
from training.diffaug import diff_augment
from training.models.discriminator import MultiScaleDiscriminator
from training.models.teacher import StyleEncoder, Teacher

log = logging.getLogger(__name__)


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """(N,S,S,3) uint8 -> (N,3,S,S) float in [-1, 1] (the looks' default normalisation)."""
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.detach().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def ddp_env() -> tuple[int, int]:
    """(rank, world) from torchrun's environment; (0, 1) when not distributed."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device: torch.device) -> tuple[int, int]:
    rank, world = ddp_env()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world


def timed_step(trainer) -> dict[str, float]:
    """One optimisation step of a trainer, with its duration and step number, kept in its history."""
    t0 = time.perf_counter()
    losses = trainer.train_step()
    losses["sec"] = time.perf_counter() - t0
    losses["step"] = trainer.step
    trainer.history.append({k: round(v, 5) for k, v in losses.items()})
    return losses


class TeacherTrainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, device: str | None = None, data: dict | None = None) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.rank, self.world = init_distributed(self.device)
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1000 * self.rank)
        self.aligner = Aligner(cfg.size, cfg.padding)
        data = data if data is not None else self.load_data()
        self.source = to_tensor(data["source"])
        self.refs = [to_tensor(r) for r in data["refs"]]
        # Regional makeup statistics need landmarks (cached with the crops); tests may pass crops only.
        self.src_regions = None
        if data.get("source_landmarks") is not None and all(r is not None for r in data.get("refs_landmarks", [None])):
            self.src_regions = torch.from_numpy(region_masks(data["source_landmarks"], cfg.size)).float()
            self.region_targets = []
            for crops, marks in zip(self.refs, data["refs_landmarks"]):
                rm = torch.from_numpy(region_masks(marks, cfg.size)).float()
                mean, std = L.region_stats(crops, rm)
                present = (rm.sum(dim=(2, 3)) > 8).float().unsqueeze(-1)
                n = present.sum(0).clamp_min(1.0)
                self.region_targets.append((((mean * present).sum(0) / n).to(self.device),
                                            ((std * present).sum(0) / n).to(self.device)))
            self.region_weights = torch.tensor([1.0, 2.0, 1.0, 0.5], device=self.device)  # skin, lips, eyes, brows
        if len(self.source) < 2:
            raise InputError("need at least two source faces to train")
        self.mask = torch.from_numpy(face_mask(self.aligner))[None, None].to(self.device)
        tcfg = cfg.teacher
        tcfg.num_looks = len(cfg.looks)
        self.G = Teacher(tcfg).to(self.device)
        self.D = MultiScaleDiscriminator(heads=len(cfg.looks) + 1).to(self.device)
        self.feat = L.feature_net(cfg.vgg_weights).to(self.device)
        # identity preservation: ArcFace when the user has its ONNX, else the fixed feature network
        self.id_net = L.OnnxIdentityNet(cfg.arcface_onnx).to(self.device) if cfg.arcface_onnx else self.feat
        # Style encoder: learns to map a look's reference photos to its code, so a new look can be made
        # from a handful of pictures without training a new code (see training/encode.py).
        self.E = StyleEncoder(tcfg.style_dim).to(self.device)
        self.opt_g = torch.optim.Adam(list(self.G.parameters()) + list(self.E.parameters()), cfg.lr_g, betas=(0.5, 0.99))
        self.opt_d = torch.optim.Adam(self.D.parameters(), cfg.lr_d, betas=(0.5, 0.99))
        self.g_net = DDP(self.G) if self.world > 1 else self.G
        self.d_net = DDP(self.D) if self.world > 1 else self.D
        with torch.no_grad():
            self.ref_stats = [L.masked_colour_stats(r.to(self.device), self.mask) for r in self.refs]
            self.ref_stats = [(m.mean(0, keepdim=True), s.mean(0, keepdim=True)) for m, s in self.ref_stats]
        self.step = 0
        self.history: list[dict] = []

    def load_data(self) -> dict:
        cache = self.run_dir / "cache"
        src = prepare_crops([Path(p) for p in self.cfg.source], self.aligner, cache, exclude=tuple(self.cfg.exclude))
        refs = [prepare_crops([Path(p) for p in lk.refs], self.aligner, cache) for lk in self.cfg.looks]
        return {"source": src.crops, "source_landmarks": src.landmarks, "refs": [r.crops for r in refs],
                "refs_landmarks": [r.landmarks for r in refs]}

    def _sample(self, pool: torch.Tensor, n: int, regions: torch.Tensor | None = None):
        idx = torch.randint(0, len(pool), (n,), generator=self.gen)
        x = pool[idx]
        flip = torch.rand(n, generator=self.gen) < 0.5
        x[flip] = x[flip].flip(-1)
        if regions is None:
            return x.to(self.device)
        r = regions[idx]
        r[flip] = r[flip].flip(-1)
        return x.to(self.device), r.to(self.device)

    def train_step(self) -> dict[str, float]:
        cfg, b = self.cfg, self.cfg.batch
        look = int(torch.randint(1, len(self.refs) + 1, (1,), generator=self.gen))
        if self.src_regions is not None:
            x, x_regions = self._sample(self.source, b, self.src_regions)
        else:
            x, x_regions = self._sample(self.source, b), None
        ref = self._sample(self.refs[look - 1], b)
        dom = torch.full((b,), look, dtype=torch.long, device=self.device)
        plain = torch.zeros(b, dtype=torch.long, device=self.device)
        aug = lambda t: diff_augment(t, cfg.diffaug)  # noqa: E731
        adv_d = L.lsgan_d if cfg.gan == "lsgan" else L.hinge_d
        adv_g = L.lsgan_g if cfg.gan == "lsgan" else L.hinge_g
        G = self.g_net
        emb = self.G.looks

        # generator
        y = G(x, emb(dom))
        fake_logits, fake_feats = self.d_net(aug(y), dom)
        with torch.no_grad():
            _, real_feats = self.d_net(aug(ref), dom)
        m = self.mask
        fy, fr = self.feat(y * m), self.feat(ref * m)
        terms = {
            "adv": adv_g(fake_logits),
            "fm": L.feature_matching(real_feats, fake_feats),
            "cycle": F.l1_loss(G(y, emb(plain)), x),
            "identity": F.l1_loss(G(x, emb(plain)), x),
            "gram": L.gram_loss(fy, fr),
            "colour": L.colour_stats_loss(y, m, *self.ref_stats[look - 1]),
            "tv": L.total_variation(y - x),
            "idpres": L.identity_loss(self.id_net.embed, y, x),
            "outside": L.masked_l1(y, x, 1.0 - m),
        }
        terms["encoder"] = F.l1_loss(self.E(ref), emb(dom[:1])[0].detach())
        if x_regions is not None:
            terms["region"] = L.region_colour_loss(y, x_regions, *self.region_targets[look - 1], self.region_weights)
        weights = {"adv": cfg.w_adv, "fm": cfg.w_fm, "cycle": cfg.w_cycle, "identity": cfg.w_identity,
                   "gram": cfg.w_gram, "colour": cfg.w_colour, "tv": cfg.w_tv, "idpres": cfg.w_idpres,
                   "outside": cfg.w_outside, "region": cfg.w_region, "encoder": 1.0}
        g_loss = sum(weights[k] * v for k, v in terms.items())
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()

        # discriminator
        real_logits, _ = self.d_net(aug(ref), dom)
        fake_logits, _ = self.d_net(aug(y.detach()), dom)
        d_loss = adv_d(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        with torch.no_grad():  # "no look" must stay the identity code
            self.G.looks.weight[0].zero_()
        self.step += 1
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(g=float(g_loss.detach()), d=float(d_loss.detach()), look=look)
        return out

    # -- persistence -----------------------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / "teacher.safetensors"

    def save(self) -> Path:
        if self.rank != 0:
            return self.checkpoint_path()
        return save_checkpoint(
            self.checkpoint_path(), {"G": self.G, "D": self.D, "E": self.E}, {"G": self.opt_g, "D": self.opt_d},
            meta={"step": self.step, "config": asdict(self.cfg), "history": self.history}, generator=self.gen,
        )

    def resume(self, path: Path | None = None) -> bool:
        path = path or self.checkpoint_path()
        if not Path(path).is_file():
            return False
        meta = load_checkpoint(path, {"G": self.G, "D": self.D, "E": self.E}, {"G": self.opt_g, "D": self.opt_d}, self.gen)
        self.step = int(meta.get("step", 0))
        self.history = list(meta.get("history", []))
        return True

    def write_samples(self) -> Path | None:
        if self.rank != 0:
            return None
        from training.visualise import save_grid, save_loss_plot

        g = torch.Generator().manual_seed(7)
        idx = torch.randint(0, len(self.source), (4,), generator=g)
        x = self.source[idx].to(self.device)
        rows = [to_uint8(x)]
        with torch.no_grad():
            for look in range(1, len(self.refs) + 1):
                code = self.G.looks(torch.full((4,), look, dtype=torch.long, device=self.device))
                rows.append(to_uint8(self.G(x, code)))
        save_loss_plot(self.history, self.run_dir / "loss_curve.png")
        return save_grid(rows, self.run_dir / f"grid_{self.step:06d}.png",
                         ["input"] + [lk.name for lk in self.cfg.looks])

    def run(self, progress=None, stop=None) -> None:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.rank == 0:
            cfg.save(self.run_dir / "config.json")
        log_path = self.run_dir / "losses.csv"
        while self.step < cfg.iterations:
            if stop is not None and stop.is_set():
                break
            losses = timed_step(self)
            if self.rank == 0:
                new = not log_path.exists()
                with open(log_path, "a", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=list(losses))
                    if new:
                        w.writeheader()
                    w.writerow(losses)
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.iterations:
                self.save()
            if self.step % cfg.sample_every == 0 or self.step == cfg.iterations:
                self.write_samples()
            if progress:
                progress(self.step, losses)
        self.save()
