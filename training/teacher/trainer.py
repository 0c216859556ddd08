"""Train the teacher GAN and distil the runtime student from it online (OMGD-style), resumably.

Every step: a batch of training faces at 128 or 256 px, each with a sampled condition (look code +
reference set); the renderer's pseudo-paired target; the teacher's output. The teacher learns from the
makeup losses first (squared errors: L1 stalls at the identity, as the family trainer found), then the
adversarial region terms, cycle and identity switch on. The student (the shipped architecture, the look
code only) learns the teacher's output and features on the same batch: at the start the target is
blended from the renderer towards the teacher over ``distill_ramp`` steps, while the teacher learns the
makeup itself. Checkpoints (safetensors) hold every network, optimiser and RNG state, so ``resume``
continues bit-identically.
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
from torch import nn

from livefilter.composite.regions import REGION_NAMES
from livefilter.errors import SettingError
from livefilter.looks.code import CODE_DIM, FIELD_NAMES
from livefilter.looks.region_stats import Recipe, encode_descriptors
from training.checkpoint import has_keys, load_checkpoint, save_checkpoint
from training.diffaug import diff_augment
from training.makeup.colour import rgb_to_lab
from training.makeup.render import coverage, render
from training.models.student import Student, StudentConfig
from training.teacher import losses as L
from training.teacher.conditions import ConditionSampler
from training.teacher.distill import Adapters
from training.teacher.discriminators import CROP, region_boxes, region_crops
from training.teacher.discriminators import RegionDiscriminators
from training.teacher.model import TeacherConfig, TeacherG
from training.teacher.prepare import DESC_KEYS, Pack

log = logging.getLogger(__name__)
_R = {n: i for i, n in enumerate(REGION_NAMES)}
_F = {n: i for i, n in enumerate(FIELD_NAMES)}
OFF_LOOK = 0.02  # a pixel the look paints at less than this coverage is one it leaves alone (the placement term)


@dataclass
class TeacherRunConfig:
    iterations: int = 800
    batch: int = 4
    sizes: tuple[int, ...] = (128, 128, 128, 256)  # the family trainer's mix: one batch in four at 256
    seed: int = 0
    threads: int = 2
    lr_g: float = 5e-4
    lr_d: float = 2e-4
    lr_s: float = 2e-3  # the family trainer's peak
    w_l2: float = 100.0  # renderer pseudo-pairs, region-weighted (as FamilyTrainer)
    w_lab: float = 0.002
    w_small: float = 10.0
    w_cheeks: float = 2.0
    w_desc: float = 0.3  # per-region colour target (lips, lids) measured as livefilter eval measures it
    w_cheek_colour: float = 0.5  # blush / contour / highlight: local mean CIELAB as the renderer's target
    paint_share: float = 0.0  # extra draws of the stylised look (see ConditionSampler)
    eye_share: float = 0.0  # family / mix draws whose liner, brows (and half the time shadow) are drawn apart
    photo_dropout: float = 0.0  # draws with photos whose photos the teacher does not see (code alone, as the student)
    cross_share: float = 0.0  # family / reference / mix draws whose lips, cheeks and skin come from another draw
    light_share: float = 0.0  # draws (not the stylised look's) given an eye shadow lighter than the plain lid
    student_only: bool = False  # a distillation segment: the teacher and discriminators stay as they are
    w_paint_pair: float = 3.0  # pair and detail weight of a stylised sample against a makeup one
    w_detail: float = 0.5  # Laplacian of lightness as the pseudo-pair has it (lip lines, pores; the toon's flats)
    w_adv: float = 0.03
    w_cycle: float = 20.0
    w_perc: float = 5.0
    w_gram: float = 2e4
    gram_ref_share: float = 0.1  # the artistic references' mean Gram, beside each face's own illustration's
    w_tv: float = 0.5
    w_id: float = 2.0
    w_skin: float = 0.05  # squared skin-lightness change (CIELAB L units)
    w_forbid: float = 50.0
    w_feat: float = 0.5  # student feature distillation
    w_student_detail: float = 0.0  # the detail term for the student against the teacher's output (lip lines, the toon)
    w_student_desc: float = 0.0  # the region-colour target (lips, lids as code and photos state them) for the student
    w_place: float = 0.0  # teacher and student: no change where no operation of the look reaches (colour stays in place)
    w_place_peak: float = 0.0  # teacher and student: the placement term's worst 1 % of pixels (blotches)
    w_student_cheek: float = 0.0  # the cheek colour term for the student, against the teacher's output
    w_renderer_cheek: float = 0.0  # the same term for the student against the renderer's (makeup looks only)
    w_student_lid: float = 0.0  # the same local colour term on the eye shadow, for the student
    w_lip_texture: float = 0.0  # the student: the lips' Laplacian of lightness as the INPUT has it (their lines)
    w_spread: float = 0.0  # teacher and student: inside lips and lid, colour proportional to the renderer's weight
    w_student_motion: float = 0.0  # the student's output follows the face when it moves (flicker; LIDS.md section 18)
    motion_shift: float = 1.5  # ... moved by up to this many pixels each way, with camera-like noise,
    motion_turn: float = 2.0  # ... turned by up to this many degrees and scaled by up to this share, as the
    motion_scale: float = 0.03  # aligned crop of a talking face turns and scales between frames (section 18)
    adv_start: int = 200  # adversarial, cycle and identity terms start once the makeup losses converge
    cycle_every: int = 4
    id_every: int = 2
    distill_ramp: int = 200
    restart_at: int = 0  # a later training segment: from this step a fresh warm-up and cosine to ``iterations``
    restart_scale: float = 0.5  # ... peaking at this share of the first segment's peak learning rates
    checkpoint_every: int = 25
    device: str = "cpu"
    teacher: TeacherConfig = field(default_factory=lambda: TeacherConfig(base=24, mid_blocks=5))
    student: StudentConfig = field(default_factory=lambda: StudentConfig(base=16, style_dim=CODE_DIM, mid_blocks=2,
                                                                         fine_film=True, map_hidden=64))


def _t(x: np.ndarray, dev: str) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255.0).to(dev)


class TeacherTrainer:
    def __init__(self, cfg: TeacherRunConfig, pack: Pack, run_dir: Path) -> None:
        torch.manual_seed(cfg.seed)
        if cfg.device == "cpu":
            torch.set_num_threads(cfg.threads)
        self.cfg, self.pack, self.run_dir, self.dev = cfg, pack, Path(run_dir), cfg.device
        self.rng = np.random.default_rng(cfg.seed)
        self.sampler = self._sampler(cfg)
        self.G = TeacherG(cfg.teacher).to(self.dev)
        self.D = RegionDiscriminators().to(self.dev)
        self.S = Student(cfg.student).to(self.dev)
        self.A = Adapters(cfg.student, cfg.teacher).to(self.dev)
        from training.models.layers import FiLM

        for m in self.S.modules():  # as FamilyTrainer: the code steers the student from step 0
            if isinstance(m, FiLM):
                nn.init.normal_(m.proj.weight, std=0.05)
        nn.init.normal_(self.S.head.weight, std=0.02)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(0.5, 0.99))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.99))
        self.opt_s = torch.optim.Adam(list(self.S.parameters()) + list(self.A.parameters()), lr=cfg.lr_s,
                                      betas=(0.9, 0.99))
        self.feat = L.RandomFeatureNet().to(self.dev)
        self.idnet = None
        try:
            self.idnet = L.FaceNetIdentity().to(self.dev)
        except Exception as e:  # the identity model is optional for a run, never silently: it is logged
            log.warning("identity term off: %s", e)
        self.step, self.seconds, self.history = 0, 0.0, []
        self._prepare_static()

    def _sampler(self, cfg: TeacherRunConfig) -> ConditionSampler:
        p = self.pack
        return ConditionSampler(p.info, p.ref_names, p.ref_kind, self.rng, cfg.paint_share, cfg.eye_share,
                                cfg.photo_dropout, cfg.cross_share, cfg.light_share)

    def reconfigure(self, cfg: TeacherRunConfig) -> None:
        """Go on with another segment's terms and draws (the networks, optimisers and step stay)."""
        if (cfg.teacher, cfg.student, cfg.device) != (self.cfg.teacher, self.cfg.student, self.cfg.device):
            raise SettingError("a segment keeps the run's networks and device")
        self.cfg, self.sampler = cfg, self._sampler(cfg)

    # ---- data ---------------------------------------------------------------------------------
    def _prepare_static(self) -> None:
        p, fs = self.pack, self.pack.faces
        # every face array as uint8 on the training device, once (on the CPU: views, no copy)
        self.data = {k: torch.from_numpy(v).to(self.dev) for k, v in (
            ("crops", fs.crops), ("smooth", fs.smooth), ("painted", fs.painted), ("masks", fs.masks),
            ("edges", fs.edges), ("measure", p.measure), ("forbidden", p.forbidden))}
        self.boxes = torch.from_numpy(region_boxes(fs.landmarks, fs.crops.shape[1]))
        self.ref_boxes = torch.from_numpy(region_boxes(p.ref_landmarks, p.ref_crops.shape[1])).to(self.dev)
        self.refs = _t(p.ref_crops, self.dev)
        self.ref_masks = torch.from_numpy(p.ref_masks).float().div(255.0).to(self.dev)
        self.makeup_idx = [i for i, k in enumerate(p.ref_kind) if k == "makeup"]
        self.style_idx = [i for i, k in enumerate(p.ref_kind) if k == "style"]
        self.baseline = p.info["baseline"]
        self.own_codes = np.stack([self._own_code(d) for d in p.desc])
        self.refs128 = F.interpolate(self.refs * 2 - 1, size=(128, 128), mode="area")
        self.ref_masks128 = F.interpolate(self.ref_masks, size=(128, 128), mode="area")
        with torch.no_grad():
            self.style_grams = [L.gram(f).mean(0, keepdim=True) for f in self.feat(self.refs128[self.style_idx])]
        self._real: dict[int, dict[str, torch.Tensor]] = {}

    def real_crops(self, size: int) -> dict[str, torch.Tensor]:
        """The references' region crops at a training size (static: computed once per size)."""
        if size not in self._real:
            src = F.interpolate(self.refs * 2 - 1, size=(size, size), mode="area")
            real = region_crops(src[self.makeup_idx], self.ref_boxes[self.makeup_idx])
            real["style"] = F.interpolate(src[self.style_idx], size=CROP["style"], mode="area")
            self._real[size] = real
        return self._real[size]

    def _own_code(self, desc: np.ndarray) -> np.ndarray:
        """A face's own look as a code (the cycle's way back to the plain face)."""
        d = {k: float(v) for k, v in zip(DESC_KEYS, desc)}
        return encode_descriptors(d, self.baseline, Recipe(lips=1.0, eyes=1.0, blush=1.0, gain=1.0)).vector()

    def batch(self, n: int, size: int) -> dict[str, torch.Tensor]:
        dev, d = self.dev, self.data
        idx = self.rng.integers(len(self.pack.faces), size=n)
        ti = torch.from_numpy(idx).to(dev)
        img, smooth, painted = (d[k][ti].permute(0, 3, 1, 2).float().div(255.0) for k in ("crops", "smooth", "painted"))
        masks, measure = d["masks"][ti].float().div(255.0), d["measure"][ti].float().div(255.0)
        edges, forbid = (d[k][ti].float().div(255.0).unsqueeze(1) for k in ("edges", "forbidden"))
        gain = torch.from_numpy(self.rng.uniform(0.85, 1.15, (n, 1, 1, 1)).astype(np.float32)).to(dev)
        img, smooth, painted = (torch.clamp(t * gain, 0, 1) for t in (img, smooth, painted))
        boxes = self.boxes[idx].clone().to(dev)
        flip = torch.from_numpy(self.rng.random(n) < 0.5).to(dev)
        if flip.any():  # regions are left/right symmetric, so they flip with the face (boxes swap sides)
            for t in (img, smooth, painted, masks, edges, measure, forbid):
                t[flip] = t[flip].flip(-1)
            fb = boxes[flip]
            fb[:, :, 0] = -fb[:, :, 0]
            boxes[flip] = fb[:, [0, 2, 1, 4, 3]]
        if size != img.shape[-1]:
            img, smooth, painted, masks, edges, measure, forbid = (
                F.interpolate(t, size=(size, size), mode="area")
                for t in (img, smooth, painted, masks, edges, measure, forbid))
        cond = self.sampler.batch(n)
        code = torch.from_numpy(cond.codes).to(dev)
        with torch.no_grad():
            target = render(img, masks, code, smooth, painted, edges)
            # the placement terms' untouched pixels (where the look paints nothing, or no chroma)
            placed = self.cfg.w_place or self.cfg.w_place_peak  # the placement terms are their sole readers
            off = (coverage(masks, code) < OFF_LOOK).float() if placed else None
            off_chroma = (coverage(masks, code, chroma=True) < OFF_LOOK).float() if placed else None
        return {"image": img, "target": target, "off": off, "off_chroma": off_chroma, "masks": masks,
                "measure": measure, "forbid": forbid, "boxes": boxes, "code": code,
                "sets": torch.from_numpy(cond.ref_sets).to(dev),
                "ref_desc": torch.from_numpy(cond.ref_desc).to(dev),
                "own": torch.from_numpy(self.own_codes[idx]).float().to(dev), "idx": torch.from_numpy(idx)}

    # ---- losses -------------------------------------------------------------------------------
    def weights(self, masks: torch.Tensor) -> torch.Tensor:
        small = masks[:, [_R["lips"], _R["eyeshadow"], _R["eyeliner"], _R["brows"]]].sum(1, keepdim=True)
        cheeks = masks[:, [_R["blush"], _R["contour"], _R["highlight"]]].sum(1, keepdim=True)
        return 1.0 + self.cfg.w_small * small.clamp(max=1) + self.cfg.w_cheeks * cheeks.clamp(max=1)

    def pseudo_pair(self, out: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        err = out - target
        lab = (w * (rgb_to_lab(out) - rgb_to_lab(target)) ** 2).mean()
        return self.cfg.w_l2 * (w * err ** 2).mean() + self.cfg.w_lab * lab

    def condition(self, code: torch.Tensor, sets: torch.Tensor, photos: torch.Tensor | None = None,
                  photo_masks: torch.Tensor | None = None) -> torch.Tensor:
        refs, rmask = self.refs128, self.ref_masks128
        if photos is not None:  # extra photos (a face as its own reference) appended to the pool
            refs = torch.cat([refs, F.interpolate(photos, size=(128, 128), mode="area")])
            rmask = torch.cat([rmask, F.interpolate(photo_masks, size=(128, 128), mode="area")])
        emb = self.G.refs.pool_set(self.G.refs(refs, rmask), sets)
        has = (sets.sum(1, keepdim=True) > 0).float()
        return self.G.condition(code, emb, has)

    def _active(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        on = lambda k: code[:, _F[k]] > 0.05  # noqa: E731
        style = code[:, _F["paint"]] > 0.5
        return {"lips": on("lips_opacity"), "eyes": on("shadow_opacity") | on("liner_opacity"),
                "cheeks": on("blush_opacity"), "face": (code.abs().sum(1) > 0) & ~style, "style": style}

    def _fake_real(self, y: torch.Tensor, b: dict, size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per discriminator head: (fake crops of samples wearing that region, real crops of references). A
        stylised face is judged by the style head against the artistic references only: the face head's real
        crops are makeup photos, and judged by it the illustration was pushed back towards a photo's texture."""
        act = self._active(b["code"])
        fake = region_crops(y, b["boxes"])
        real = self.real_crops(size)
        pairs = {}
        for h in ("lips", "eyes", "cheeks", "face"):
            sel = act[h].repeat(2) if h in ("eyes", "cheeks") else act[h]
            if sel.any():
                pairs[h] = (fake[h][sel], real[h])
        if act["style"].any():
            pairs["style"] = (F.interpolate(y[act["style"]], size=CROP["style"], mode="area"), real["style"])
        return pairs

    # ---- one step -----------------------------------------------------------------------------
    def lr_at(self, peak: float, step: int) -> float:
        warm, start, end = 100, 0, self.cfg.iterations
        if 0 < self.cfg.restart_at <= step:  # a continuation segment: its own (shorter) warm-up and cosine
            warm, start, peak = 50, self.cfg.restart_at, peak * self.cfg.restart_scale
        if step - start < warm:
            return peak * (step - start + 1) / warm
        t = (step - start - warm) / max(1, end - start - warm)
        return peak * 0.025 + 0.5 * peak * 0.975 * (1 + math.cos(math.pi * min(1.0, t)))

    def _teacher_step(self, b: dict, size: int, x: torch.Tensor, img: torch.Tensor, paint: torch.Tensor,
                      w: torch.Tensor, in_lab: torch.Tensor
                      ) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, float]]:
        """One update of the teacher and the discriminators; returns the teacher's output in [0, 1], its
        features and the logged terms."""
        c, st = self.cfg, self.step
        adv_on = st >= c.adv_start
        cond = self.condition(b["code"], b["sets"])
        y, tfeats = self.G(x, cond, return_features=True)
        out = (y + 1) / 2
        logs: dict[str, float] = {}
        out_lab = rgb_to_lab(out)
        terms = {"pair": self.pseudo_pair(out, b["target"], w)}
        desc, skin_dl = L.descriptor_loss(out_lab, in_lab, b["measure"], b["code"], self.baseline, b["ref_desc"])
        terms["desc"] = c.w_desc * desc
        tgt_lab = rgb_to_lab(b["target"])
        if c.w_cheek_colour:
            terms["cheek"] = c.w_cheek_colour * L.local_colour_loss(out_lab, tgt_lab, b["masks"])
        if c.w_detail:
            terms["detail"] = c.w_detail * L.detail_loss(out_lab, tgt_lab, w)
        terms["skin"] = c.w_skin * (skin_dl ** 2).mean()
        if c.w_place:
            terms["place"] = c.w_place * L.placement_loss(out_lab, in_lab, b["off"], 1 - paint,
                                                          off_chroma=b["off_chroma"])
        if c.w_place_peak:
            terms["place_peak"] = c.w_place_peak * L.placement_peak_loss(out_lab, in_lab, b["off"], 1 - paint,
                                                                          off_chroma=b["off_chroma"])
        if c.w_spread:
            terms["spread"] = c.w_spread * L.spread_loss(out_lab, in_lab, b["masks"], b["code"], 1 - paint)
        resid = out - img
        fb = b["forbid"]  # per face, normalised by the forbidden area: a mean over the whole image hides it
        terms["forbid"] = c.w_forbid * (((fb * resid ** 2).sum((1, 2, 3)) / (3 * fb.sum((1, 2, 3)).clamp(min=1.0)))
                                        * (1 - paint)).mean()
        terms["tv"] = c.w_tv * L.total_variation(resid)
        fo, ft = self.feat(y), self.feat(b["target"] * 2 - 1)
        terms["perc"] = c.w_perc * sum(F.mse_loss(a, t) for a, t in zip(fo, ft)) / len(fo)
        if bool((paint > 0.5).any()):
            terms["gram"] = c.w_gram * L.style_loss(fo, ft, self.style_grams, paint, c.gram_ref_share)
        if adv_on:
            ramp = min(1.0, (st - c.adv_start + 1) / 200)
            pairs = self._fake_real(y, b, size)
            terms["adv"] = c.w_adv * ramp * sum(L.lsgan_g(self.D(h, diff_augment(f, "colour,translation")))
                                                 for h, (f, _) in pairs.items()) / max(1, len(pairs))
            if st % c.cycle_every == 0:
                h = len(x) // 2
                own_sets = torch.zeros(h, self.refs.shape[0] + h, device=self.dev)
                own_sets[torch.arange(h), self.refs.shape[0] + torch.arange(h)] = 1.0
                back = self.G(y[:h], self.condition(b["own"][:h], own_sets, x[:h], b["masks"][:h]))
                # made-up -> plain: a stylised face is not meant to be undone (the cycle would pull the toon
                # back to the photo), so stylised samples are left out of it
                keep = (1 - paint[:h]).view(-1, 1, 1, 1)
                terms["cycle"] = c.w_cycle * (keep * (back - x[:h]) ** 2).mean()
            if self.idnet is not None and st % c.id_every == 0:
                h = len(x) // 2
                terms["id"] = c.w_id * L.identity_loss(self.idnet, out[:h], img[:h], paint[:h])
        loss_g = sum(terms.values())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        logs |= {k: float(v.detach()) for k, v in terms.items()}
        # discriminators
        if adv_on:
            pairs = self._fake_real(y.detach(), b, size)
            loss_d = sum(L.lsgan_d(self.D(h, diff_augment(r, "colour,translation")),
                                   self.D(h, diff_augment(f, "colour,translation"))) for h, (f, r) in pairs.items())
            loss_d = loss_d / max(1, len(pairs))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            logs["d"] = float(loss_d.detach())
        return out, tfeats, logs

    def train_step(self) -> dict[str, float]:
        c, st = self.cfg, self.step
        for opt, peak in ((self.opt_g, c.lr_g), (self.opt_d, c.lr_d), (self.opt_s, c.lr_s)):
            for g in opt.param_groups:
                g["lr"] = self.lr_at(peak, st)
        size = int(self.rng.choice(c.sizes))
        b = self.batch(c.batch, size)
        x, img = b["image"] * 2 - 1, b["image"]
        # a whole-face restyle is a far larger change than a lipstick, and its pseudo-pair is the only term
        # that says what the illustration looks like pixel by pixel: stylised samples weigh more
        paint = b["code"][:, _F["paint"]].clamp(0, 1)
        w = self.weights(b["masks"]) * (1 + (c.w_paint_pair - 1) * paint).view(-1, 1, 1, 1)
        in_lab = rgb_to_lab(img)
        if c.student_only:  # the teacher is trained: it only shows the student the way (no update, no graph)
            with torch.no_grad():
                y, tfeats = self.G(x, self.condition(b["code"], b["sets"]), return_features=True)
            out, logs = (y + 1) / 2, {}
        else:
            out, tfeats, logs = self._teacher_step(b, size, x, img, paint, w, in_lab)
        # student, online: the teacher's output (blended in from the renderer's at the start) and features
        lam = min(1.0, st / max(1, c.distill_ramp))
        t_out = (lam * out.detach() + (1 - lam) * b["target"]).clamp(0, 1)
        s, sfeats = self.S(x, b["code"], torch.ones(len(x), 1, device=self.dev), return_features=True)
        s_out = (s + 1) / 2
        loss_s = self.pseudo_pair(s_out, t_out, w) + c.w_feat * lam * self.A(sfeats, tfeats)
        # the student's own terms beside the distillation, each added at its weight (when on) and logged
        extra = (
            # the blush is a broad change of a few units, which the pixel pair hardly feels
            ("student_cheek", c.w_student_cheek, lambda: L.local_colour_loss(s_lab, t_lab, b["masks"])),
            # ... or the renderer's, whose blush the teacher only partly learned (LIDS.md section 7)
            ("renderer_cheek", c.w_renderer_cheek, lambda: L.local_colour_loss(
                s_lab, rgb_to_lab(b["target"]), b["masks"] * (1 - paint).view(-1, 1, 1, 1))),
            # and so is the eye shadow's band, a few pixels tall (LIDS.md section 12)
            ("student_lid", c.w_student_lid, lambda: L.local_colour_loss(s_lab, t_lab, b["masks"], L.LID_REGIONS, 5)),
            # the student sees only the code, so where the teacher's lid or lip colour depends on the photos (or
            # drifts from what they measure), a pixel copy of the teacher averages it away: the student also
            # meets the measured colour target itself (a task loss beside the distillation, as in KD)
            ("student_desc", c.w_student_desc, lambda: L.descriptor_loss(
                s_lab, in_lab, b["measure"], b["code"], self.baseline, b["ref_desc"])[0]),
            # the student paints too, and its colour must stop where the look's does
            ("student_place", c.w_place, lambda: L.placement_loss(s_lab, in_lab, b["off"], 1 - paint,
                                                                  off_chroma=b["off_chroma"])),
            # and a blotch, a few pixels of the untouched area, costs it as much as a smear
            ("student_place_peak", c.w_place_peak, lambda: L.placement_peak_loss(
                s_lab, in_lab, b["off"], 1 - paint, off_chroma=b["off_chroma"])),
            # and inside the look's regions, it is spread as the renderer spreads it
            ("student_spread", c.w_spread, lambda: L.spread_loss(s_lab, in_lab, b["masks"], b["code"], 1 - paint)),
            # and the lipstick keeps the lips' own lines, which the teacher's smoother lips would take away
            ("lip_texture", c.w_lip_texture, lambda: L.lip_texture_loss(s_lab, in_lab, b["masks"], 1 - paint)),
            # and its output moves with the face, as the live feed's next frame asks (no term saw motion before)
            ("student_motion", c.w_student_motion, lambda: self._motion_term(img, s_out, b["code"])),
        )
        s_lab = rgb_to_lab(s_out) if c.w_student_detail or any(wt for _, wt, _ in extra) else None
        t_lab = rgb_to_lab(t_out) if c.w_student_detail or c.w_student_cheek or c.w_student_lid else None
        if c.w_student_detail:  # the pixel loss lets a small network blur lip lines and the toon's flats and ink
            loss_s = loss_s + c.w_student_detail * L.detail_loss(s_lab, t_lab, w)
        for name, weight, term in extra:
            if weight:
                value = term()
                loss_s = loss_s + weight * value
                logs[name] = float(value.detach())
        self.opt_s.zero_grad(set_to_none=True)
        loss_s.backward()
        self.opt_s.step()
        logs["student"] = float(loss_s.detach())
        logs["student_vs_renderer"] = float(((s_out.detach() - b["target"]) ** 2).mean() * 1e3)
        logs["teacher_vs_renderer"] = float(((out.detach() - b["target"]) ** 2).mean() * 1e3)
        logs["size"] = size
        self.step += 1
        return logs

    def _motion_term(self, img: torch.Tensor, s_out: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """The student on the batch moved by a random sub-pixel shift, turn and scale, with sensor-like noise
        (sigma 2 levels), against its output moved the same way (``losses.motion_consistency_loss``). The draws
        come from the step's own generator, so turning the term on leaves every other draw of the run as it was."""
        c, n = self.cfg, len(img)
        rng = np.random.default_rng([c.seed, self.step, 0x6D6F])
        draw = lambda lim, shape: torch.from_numpy(rng.uniform(-lim, lim, shape).astype(np.float32))  # noqa: E731
        shift, turn = draw(c.motion_shift, (n, 2)), draw(np.radians(c.motion_turn), n)
        scale = 1 + draw(c.motion_scale, n)
        noise = torch.from_numpy(rng.normal(0.0, 2.0 / 255, tuple(img.shape)).astype(np.float32)).to(img.device)
        ones = torch.ones(n, 1, device=img.device)
        return L.motion_consistency_loss(lambda im: (self.S(im * 2 - 1, code, ones) + 1) / 2, img, s_out,
                                         shift, noise, turn=turn, scale=scale)  # the moves stay host-side draws

    # ---- checkpoints --------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"teacher": self.G, "discriminators": self.D, "student": self.S, "adapters": self.A}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"teacher": self.opt_g, "discriminators": self.opt_d, "student": self.opt_s}

    def checkpoint_path(self) -> Path:
        return self.run_dir / "teacher.safetensors"

    def save(self, extra: dict | None = None) -> Path:
        meta = {"step": self.step, "seconds": round(self.seconds, 1), "config": asdict(self.cfg),
                "rng": self.rng.bit_generator.state, "history": self.history[-3000:]} | (extra or {})
        return save_checkpoint(self.checkpoint_path(), self.modules(), self.optimizers(), meta)

    def resume(self) -> bool:
        p = self.checkpoint_path()
        if not p.is_file():
            return False
        optimizers = self.optimizers()
        optional = self.S.optional_layers()
        missing = [k for k in optional if not has_keys(p, f"model.student.{k}")]
        if missing:
            # a run from before the student's code mapping or full-resolution modulation: they join at zero (the
            # student's output is unchanged) and the student's optimiser starts afresh, since its parameter list
            # grew (a segment has its own warm-up)
            log.info("%s: the student gains %s (starting at zero)", p, ", ".join(k[:-1] for k in missing))
            for k in missing:
                nn.init.zeros_(optional[k].weight)
                nn.init.zeros_(optional[k].bias)
            optimizers.pop("student")
        meta = load_checkpoint(p, self.modules(), optimizers, absent={"student": tuple(missing)})
        self.step, self.seconds = int(meta["step"]), float(meta.get("seconds", 0.0))
        self.history = list(meta.get("history", []))
        self.rng.bit_generator.state = meta["rng"]  # the sampler shares this generator
        return True

    def run(self, progress=None, stop=None, max_seconds: float | None = None) -> None:
        t0 = time.perf_counter()
        before = self.seconds
        while self.step < self.cfg.iterations:
            if (stop is not None and stop.is_set()) or (max_seconds and time.perf_counter() - t0 >= max_seconds):
                break
            logs = self.train_step()
            logs["step"] = self.step
            logs["sec"] = round(time.perf_counter() - t0, 2)
            self.seconds = before + logs["sec"]
            self.history.append({k: round(float(v), 5) for k, v in logs.items()})
            if progress:
                progress(self.step, logs)
            if self.step % self.cfg.checkpoint_every == 0:
                self.save()
        self.save()
