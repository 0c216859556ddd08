"""Training configuration (dataclasses, saved as JSON in the run folder)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.models.student import StudentConfig
from training.models.teacher import TeacherConfig


@dataclass
class LookSpec:
    name: str
    refs: list[str]  # folders / files of reference photos
    title: str = ""
    description: str = ""
    default_strength: float = 0.85


@dataclass
class TrainConfig:
    source: list[str]
    looks: list[LookSpec]
    size: int = 128
    padding: float = 0.25
    batch: int = 4
    iterations: int = 1200
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    seed: int = 0
    gan: str = "lsgan"  # lsgan | hinge
    w_adv: float = 0.5
    w_fm: float = 1.0
    w_cycle: float = 5.0
    w_identity: float = 5.0
    w_gram: float = 2e4  # Gram matrices are normalised by C*H*W, so raw values are ~1e-7
    w_colour: float = 0.0  # global colour statistics (the per-region term below is the default)
    w_region: float = 20.0  # per-region (skin, lips, eyes, brows) colour statistics
    w_tv: float = 5.0  # on the residual: keeps the look smooth (no blotches)
    w_idpres: float = 2.0
    w_outside: float = 10.0
    diffaug: str = "colour,translation,cutout"
    vgg_weights: str | None = None
    arcface_onnx: str | None = None  # identity model for the identity-preservation term (optional)
    checkpoint_every: int = 200
    sample_every: int = 200
    threads: int = 2
    exclude: list[str] = field(default_factory=list)
    teacher: TeacherConfig = field(default_factory=lambda: TeacherConfig(base=24, res_blocks=3))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        d = json.loads(Path(path).read_text())
        d["looks"] = [LookSpec(**lk) for lk in d["looks"]]
        d["teacher"] = TeacherConfig(**d["teacher"])
        return cls(**d)


@dataclass
class DistillConfig:
    iterations: int = 1500
    batch: int = 8
    lr: float = 1e-3
    seed: int = 0
    w_l1: float = 10.0
    w_feat: float = 1.0
    w_adv: float = 0.05
    threads: int = 2
    student: StudentConfig = field(default_factory=lambda: StudentConfig(base=12))
