"""Make a look from a handful of reference photos: encode them to a style vector with the teacher
run's style encoder, then write a look pack for the (shared) student with that vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from livefilter.align.host import Aligner
from livefilter.errors import ModelError
from training.checkpoint import read_checkpoint
from training.config import TrainConfig
from training.data import prepare_crops
from training.models.teacher import StyleEncoder
from training.train import to_tensor


def load_encoder(run_dir: Path) -> tuple[StyleEncoder, TrainConfig]:
    cfg = TrainConfig.load(Path(run_dir) / "config.json")
    tensors, _ = read_checkpoint(Path(run_dir) / "checkpoints" / "teacher.safetensors")
    state = {k[len("model.E."):]: v for k, v in tensors.items() if k.startswith("model.E.")}
    if not state:
        raise ModelError(f"{run_dir}: this teacher checkpoint has no style encoder (retrain with this version)")
    enc = StyleEncoder(cfg.teacher.style_dim)
    enc.load_state_dict(state)
    return enc.eval(), cfg


def encode_style(run_dir: Path, refs: list[Path], cache_dir: Path | None = None) -> np.ndarray:
    """(style_dim,) vector for the faces in ``refs`` (folders or files of photos)."""
    enc, cfg = load_encoder(run_dir)
    crops = prepare_crops(refs, Aligner(cfg.size, cfg.padding), cache_dir).crops
    with torch.no_grad():
        return enc(to_tensor(crops)).numpy().astype(np.float32)
