"""Distillation of the runtime student from the teacher, and its hand-over to the family publisher.

The student is distilled online (OMGD / CAT style) inside :class:`training.teacher.trainer.TeacherTrainer`:
output distillation (the family trainer's region-weighted squared error in RGB and CIELAB against the
teacher's output) plus feature distillation (1x1 adapters from the student's bottleneck and decoder
features onto the teacher's at the same resolutions). The student sees only the look code; for a look
made from photos the code is what the shipped style encoder measures from them (``looks create``), and
the teacher saw those very photos, so the student learns the teacher's fidelity for that code.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from livefilter.looks.code import CODE_DIM
from training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from training.models.complexity import count_macs, count_params
from training.models.student import Student, StudentConfig
from training.teacher.model import TeacherConfig, TeacherG

STUDENT_FILE = "family_student.safetensors"  # what ``training.makeup.publish`` reads
METHOD = ("distilled online from the conditional teacher GAN (look code + reference photos; region discriminators "
          "against real makeup photos; renderer pseudo-pairs, region colour targets, cycle, perceptual, Gram, TV, "
          "FaceNet identity, skin guard, region constraints): output + feature distillation, one conditional student")


class Adapters(nn.Module):
    """1x1 projections of the student's features onto the teacher's (feature distillation)."""

    def __init__(self, s: StudentConfig, t: TeacherConfig) -> None:
        super().__init__()
        sc, tc = (4 * s.base, 4 * s.base, 2 * s.base), (8 * t.base, 4 * t.base, 2 * t.base)
        self.proj = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(sc, tc))

    def forward(self, sf: list[torch.Tensor], tf: list[torch.Tensor]) -> torch.Tensor:
        loss = 0.0
        for p, s, t in zip(self.proj, sf, tf):
            t = t.detach()
            loss = loss + F.mse_loss(p(s), t) / t.pow(2).mean().clamp(min=1e-6)
        return loss / len(self.proj)


def complexity(teacher: TeacherG, student: Student, sizes: tuple[int, ...] = (128, 256)) -> dict:
    """Parameters and multiply-accumulates of both networks at the same input sizes, and their ratio."""
    t_macs = {str(s): count_macs(teacher, torch.zeros(1, 3, s, s), torch.zeros(1, teacher.cfg.cond_dim))
              for s in sizes}
    s_macs = {str(s): count_macs(student, torch.zeros(1, 3, s, s), torch.zeros(1, CODE_DIM), torch.ones(1, 1))
              for s in sizes}
    return {"teacher_params": count_params(teacher), "student_params": count_params(student),
            "teacher_macs": t_macs, "student_macs": s_macs,
            "mac_ratio": {s: round(t_macs[s] / s_macs[s], 1) for s in t_macs}}


def export_student(run: Path, hardware: str | None = None) -> Path:
    """The teacher run's student as ``RUN/family_student.safetensors`` for ``training.makeup.publish``."""
    ck = Path(run) / "teacher.safetensors"
    _, info = read_checkpoint(ck)
    meta = info.get("meta", {})
    cfg = meta.get("config", {})
    student = Student(StudentConfig(**cfg["student"]))
    teacher = TeacherG(TeacherConfig(**cfg["teacher"]))
    load_checkpoint(ck, {"student": student, "teacher": teacher}, restore_rng=False)
    hist = meta.get("history", [])
    out = {"step": meta.get("step"), "seconds": meta.get("seconds"), "config": {"student": cfg["student"]},
           "method": METHOD,
           "hardware": hardware or meta.get("hardware") or f"cpu ({platform.processor() or platform.machine()}, "
                                                          f"{cfg.get('threads', 1)} threads)",
           "history": hist[-200:],
           "publish_extra": {"teacher": complexity(teacher, student) | {"steps": meta.get("step"),
                                                                        "batch": cfg.get("batch")}}}
    return save_checkpoint(Path(run) / STUDENT_FILE, {"student": student}, meta=out)
