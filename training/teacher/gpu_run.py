"""The prepared one-GPU run: teacher + online student from the packed data file, time-boxed, no network.

    python -m training.teacher gpu-run --data-file teacher-data.npz --out runs/gpu --max-seconds 400

Everything is read from the one packed file (``python -m training.teacher prepare`` writes it on any
machine); the run trains the teacher and distils the student until ``--iterations`` or
``--max-seconds`` (whichever comes first), the last ``distil_share`` of the time a distillation phase (the
student alone learns from the trained teacher: ``LIDS.md`` section 10; with the terms of the recipe's
student-only segment, ``schedule.py``), then writes ``teacher.safetensors``
(every network and optimiser, resumable), ``family_student.safetensors`` (the student, ready for
``python -m training.teacher publish``) and ``gpu_run.json``: hardware, torch and CUDA versions, steps,
wall time and the last losses.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from training.teacher.distill import export_student
from training.teacher.prepare import read_pack
from training.teacher.trainer import TeacherRunConfig, TeacherTrainer

log = logging.getLogger(__name__)


def hardware(device: str) -> dict:
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    return {"device": device, "name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}


def gpu_run(data_file: Path, out: Path, cfg: TeacherRunConfig, max_seconds: float, limit: int | None = None,
            progress=None, distil_share: float = 0.2, distil_cfg: TeacherRunConfig | None = None) -> dict:
    """Train from the packed file into ``out``; returns (and writes) the run's JSON summary. ``distil_cfg`` is
    the distillation phase's configuration (the recipe's student-only segment; by default ``cfg``'s terms)."""
    t0 = time.perf_counter()
    if cfg.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    pack = read_pack(data_file, threads=16, limit=limit)
    loaded = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    trainer = TeacherTrainer(cfg, pack, out)
    trainer.resume()
    budget = max(1.0, max_seconds - (time.perf_counter() - t0))
    t_train = time.perf_counter()
    trainer.run(progress=progress, max_seconds=budget * (1.0 - distil_share))
    distil_from, config = trainer.step, asdict(cfg)  # the run's configuration, before its distillation phase
    if distil_share > 0:
        trainer.reconfigure(replace(distil_cfg or cfg, student_only=True))
        trainer.run(progress=progress, max_seconds=max(1e-3, budget - (time.perf_counter() - t_train)))
    if cfg.device.startswith("cuda"):
        torch.cuda.synchronize()
    trained = time.perf_counter() - t_train
    hw = hardware(cfg.device)
    trainer.save({"hardware": f"{hw['name']} (torch {hw['torch']}, CUDA {hw['cuda']})"})
    export_student(out)
    last = trainer.history[-1] if trainer.history else {}
    summary = {"hardware": hw, "wall_seconds": round(time.perf_counter() - t0, 1),
               "load_seconds": round(loaded, 1), "train_seconds": round(trained, 1), "steps": trainer.step,
               "steps_per_second": round(len(trainer.history) and trainer.step / max(trainer.seconds, 1e-6), 3),
               "distil_from_step": distil_from, "distil_steps": trainer.step - distil_from,
               "faces": len(pack.faces), "references": len(pack.ref_names), "config": config,
               "distil_config": asdict(trainer.cfg) if distil_share > 0 else None,
               "last_losses": last, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    tmp = out / "gpu_run.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    tmp.replace(out / "gpu_run.json")
    return summary
