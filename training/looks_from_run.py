"""After distillation: measure each look and write its look pack."""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path

import numpy as np
import torch

from exporters.look_pack import write_look_pack
from exporters.onnx_export import export_onnx
from livefilter.align.host import Aligner
from training.config import TrainConfig
from training.data import face_mask, prepare_crops
from training.eval import metrics as M
from training.losses import RandomFeatureNet
from training.train import to_tensor, to_uint8

log = logging.getLogger(__name__)


def feature_embedder(seed: int = 1234):
    """Identity stand-in: pooled deep features of a fixed random CNN (offline, deterministic)."""
    net = RandomFeatureNet(seed)

    def embed(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net.embed(to_tensor(np.asarray(x))).numpy()

    return embed


def _run(model, crops: np.ndarray, style: torch.Tensor, strength: float = 1.0, student: bool = True) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), 16):
            x = to_tensor(crops[i:i + 16])
            s = style.expand(len(x), -1)
            y = model(x, s, torch.full((len(x), 1), strength)) if student else model(x, s)
            out.append(to_uint8(y))
    return np.concatenate(out)


def video_crops(path: Path, aligner: Aligner, frames: int = 40) -> list[np.ndarray]:
    """Aligned crops of the first face along a real video, tracked like the runtime does."""
    import av

    from livefilter.detect import TrackerConfig, create_tracker

    tracker = create_tracker(TrackerConfig(fps=30))
    crops = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            faces = tracker.update(f.to_ndarray(format="rgb24"))
            if faces:
                crops.append(aligner.crop(f.to_ndarray(format="rgb24"), faces[0]))
            if len(crops) >= frames:
                break
    return crops


def evaluate_look(student, teacher, style: torch.Tensor, held: np.ndarray, refs: np.ndarray, mask: np.ndarray,
                  video: list[np.ndarray] | None) -> dict:
    s_out = _run(student, held, style)
    t_out = _run(teacher, held, style, student=False)
    embed = feature_embedder()
    res = {
        "teacher_student_psnr_db": round(M.psnr(s_out, t_out), 2),
        "teacher_student_ssim": round(M.ssim(s_out, t_out), 4),
        "identity_similarity": round(M.identity_similarity(embed, held, s_out), 4),
        "style_distance": round(M.style_distance(s_out, refs, mask), 3),
        "style_distance_before": round(M.style_distance(held, refs, mask), 3),
        "mean_abs_change": round(float(np.abs(s_out.astype(int) - held).mean()), 2),
        "eval_faces": int(len(held)),
    }
    if video:
        v = np.stack(video)
        res["flicker_ratio"] = round(M.flicker_ratio(list(v), list(_run(student, v, style)), mask), 3)
    return res


def preview_image(student, style: torch.Tensor, crops: np.ndarray) -> np.ndarray:
    """Two rows: before / after on four faces."""
    after = _run(student, crops, style)
    return np.concatenate([np.concatenate(list(crops), 1), np.concatenate(list(after), 1)], 0)


def write_looks(student, teacher, tcfg: TrainConfig, style_codes: torch.Tensor, out_dir: Path, run_dir: Path,
                held_paths: list[Path], video: Path | None, distill_meta: dict) -> list[Path]:
    aligner = Aligner(tcfg.size, tcfg.padding)
    mask = face_mask(aligner)
    held = prepare_crops(held_paths, aligner, run_dir / "cache").crops[:48]
    vid = video_crops(video, aligner) if video and video.is_file() else None
    onnx_path = run_dir / "student.onnx"
    report = export_onnx(student, onnx_path, input_size=tcfg.size, style_dim=style_codes.shape[1], look_name="multi")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    written = []
    for i, spec in enumerate(tcfg.looks, start=1):
        style = style_codes[i:i + 1]
        refs = prepare_crops([Path(p) for p in spec.refs], aligner, run_dir / "cache").crops
        metrics = evaluate_look(student, teacher, style, held, refs, mask, vid) | {"export": report.to_dict()}
        training = {
            "hardware": f"{device} ({platform.processor() or platform.machine()})",
            "resolution": tcfg.size,
            "teacher_iterations": tcfg.iterations,
            "distill_iterations": distill_meta.get("iterations"),
            "note": "trained on the CPU at reduced resolution/schedule; retrain on a GPU with training/README.md",
            "references": len(refs),
            "source_faces": distill_meta.get("source_faces"),
            "date": time.strftime("%Y-%m-%d"),
        }
        look, _ = write_look_pack(
            student, out_dir, name=spec.name, style_code=style[0].tolist(), input_size=tcfg.size,
            align_padding=tcfg.padding, title=spec.title, description=spec.description,
            default_strength=spec.default_strength, training=training, metrics=metrics,
            preview=preview_image(student, style, held[:4]), onnx_from=onnx_path,
        )
        written.append(look.root)
        log.info("look %s: %s", spec.name, metrics)
    return written
