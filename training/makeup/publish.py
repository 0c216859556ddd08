"""A trained family run -> measured, validated look packs (and the pictures that show them).

One ONNX graph (dynamic batch *and* size) serves every look: each pack carries its look code, the
CPU input size (128) and the GPU input size (256). Every number in a pack's ``metrics`` is measured
here through the runtime's own onnxruntime translator and face-oval compositing, on eval faces that
training never saw.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from exporters.look_pack import write_look_pack
from exporters.onnx_export import export_onnx
from livefilter.finish.settings import FinishSettings
from livefilter.looks.code import CODE_DIM, LookCode
from livefilter.looks.pack import Look
from training.checkpoint import load_checkpoint
from training.eval.look_effect import apply_look, measure
from training.makeup.dataset import FaceSet, split
from training.makeup.prepare import faces_file, read_faces
from training.makeup.trainer import FamilyConfig
from training.models.student import Student, StudentConfig
from training.models.complexity import count_macs, count_params

log = logging.getLogger(__name__)

CPU_SIZE, GPU_SIZE = 128, 256
RENDERER_METHOD = ("regional makeup renderer targets (pseudo-paired), squared error in RGB and CIELAB, small regions "
                   "weighted up, one conditional student")


def load_student(run: Path) -> tuple[Student, dict]:
    ck = run / "family_student.safetensors"
    from training.checkpoint import read_checkpoint

    _, info = read_checkpoint(ck)
    cfg = info.get("meta", {}).get("config", {}).get("student", {})
    student = Student(StudentConfig(**cfg) if cfg else FamilyConfig().student)
    meta = load_checkpoint(ck, {"student": student}, restore_rng=False)
    return student.eval(), meta


def resize_faces(fs: FaceSet, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crops and landmarks of a face set at another crop size (area resampling, like aligning smaller)."""
    if fs.crops.shape[1] == size:
        return fs.crops, fs.landmarks
    k = size / fs.crops.shape[1]
    crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in fs.crops])
    return crops, (fs.landmarks + 0.5) * k - 0.5


def _grid(rows: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.concatenate(list(r), 1) for r in rows], 0)


def publish(run: Path, out_dir: Path) -> list[Path]:
    info = json.loads((run / "family.json").read_text())
    student, meta = load_student(run)
    onnx_path = run / "student.onnx"
    report = export_onnx(student, onnx_path, input_size=CPU_SIZE, style_dim=CODE_DIM, look_name="family",
                         dynamic_size=True, check_sizes=(CPU_SIZE, GPU_SIZE))
    _, evl = split(read_faces(faces_file(run, info["size"])))
    crops, marks = resize_faces(evl, CPU_SIZE)
    macs = {str(s): count_macs(student, torch.zeros(1, 3, s, s), torch.zeros(1, CODE_DIM), torch.ones(1, 1))
            for s in (CPU_SIZE, GPU_SIZE)}
    hist = meta.get("history", [])
    training = {
        "method": meta.get("method", RENDERER_METHOD),
        "hardware": meta.get("hardware", f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"),
        "iterations": meta.get("step"), "seconds": meta.get("seconds") or (hist[-1]["sec"] if hist else None),
        "train_faces": info["train_faces"], "eval_faces": info["eval_faces"], "sizes": [CPU_SIZE, GPU_SIZE],
        "student_params": count_params(student), "student_macs": macs, "date": time.strftime("%Y-%m-%d"),
    } | meta.get("publish_extra", {})
    from training.eval import identity

    e0 = identity.embed(crops) if identity.available() else None
    written = []
    for name, spec in info["looks"].items():
        code = LookCode(**spec["code"])
        ref_desc = None
        if spec["reference_kind"] == "makeup":
            from livefilter.looks.region_stats import robust_mean

            names = info.get("makeup_reference_names")
            descs = info["makeup_reference_descriptors"]
            if names:
                descs = [d for n, d in zip(names, descs) if n in set(spec["references"])]
            ref_desc = robust_mean(descs)
        look, _ = write_look_pack(
            student, out_dir, name=name, style_code=code.vector().tolist(), input_size=CPU_SIZE,
            device_input_size=GPU_SIZE, align_padding=0.25, title=spec["title"], description=spec["description"],
            default_strength=spec["default_strength"], regions=spec["regions"],
            composite="head" if code.paint > 0 else "face",  # the renderer paints an illustration on the whole crop
            finish=FinishSettings(**spec.get("finish", {})).validate(),
            training=training | {"references": spec["references"], "code": spec["code"]},
            metrics={"export": report.to_dict()}, onnx_from=onnx_path)
        metrics, after = measure(look, crops, marks, ref_desc, input_embeddings=e0)
        video = Path(info.get("data_root", "")) / "video" / "deepfacelive" / "Obama_speaking.mp4"
        if video.is_file():
            from training.eval.report import video_quality

            metrics["video"] = {"clip": video.name, "temporal": 0.5} | video_quality(look, video, frames=90)
        preview = _grid([crops[:4], after[:4]])
        look.metrics = metrics | {"export": report.to_dict()}
        cv2.imwrite(str(look.root / "preview.jpg"), preview[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        look.preview = "preview.jpg"
        look.save()
        written.append(look.root)
        log.info("look %s: %s", name, json.dumps(metrics)[:400])
    return written

