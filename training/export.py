"""Exports that build training's own models (``training`` -> ``exporters``, never the other way).

* :func:`student_from_checkpoint`: a distillation checkpoint's student, built from its own config;
* :func:`export_teacher_onnx`: a run's frozen teacher as an ONNX with the student's inputs, for
  ``livefilter bench --teacher`` (``python -m training.export RUN_DIR OUT.onnx``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from exporters.onnx_export import ExportReport, export_onnx, load_student_checkpoint, load_student_into
from livefilter.errors import ModelError


def student_from_checkpoint(path: Path):
    """Build ``training.models.Student`` from a distillation checkpoint's own config, weights loaded."""
    from training.models.student import Student, StudentConfig

    state, meta = load_student_checkpoint(path)
    cfg = (meta.get("config") or {}).get("student") or {}
    try:
        model = Student(StudentConfig(**cfg))
    except TypeError as e:
        raise ModelError(f"{Path(path).name}: student config does not fit this version ({e})") from None
    return load_student_into(model, path, state)


def export_teacher_onnx(run_dir: Path, out_path: Path, size: int = 128) -> ExportReport:
    """A teacher run's generator as an ONNX with the student's inputs (image, look code, strength), for
    ``livefilter bench --teacher``: conditioned on the code alone (no reference photos), and ``strength``
    mixes input and teacher output outside the network (the teacher has no strength input)."""
    import torch

    from livefilter.looks.code import CODE_DIM
    from training.checkpoint import load_checkpoint, read_checkpoint
    from training.teacher.model import TeacherConfig, TeacherG

    ck = Path(run_dir) / "teacher.safetensors"
    _, info = read_checkpoint(ck)
    teacher = TeacherG(TeacherConfig(**info.get("meta", {}).get("config", {}).get("teacher", {})))
    load_checkpoint(ck, {"teacher": teacher}, restore_rng=False)

    class WithStrength(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.t = teacher

        def forward(self, image, style, strength):
            n = image.shape[0]
            cond = self.t.condition(style, torch.zeros(n, self.t.cfg.ref_dim), torch.zeros(n, 1))
            return image + strength.view(-1, 1, 1, 1) * (self.t(image, cond) - image)

    return export_onnx(WithStrength().eval(), out_path, input_size=size, style_dim=CODE_DIM, look_name="teacher")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m training.export RUN_DIR OUT.onnx")
    report = export_teacher_onnx(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.write(f"wrote {report.path} (parity {report.parity_max_abs:.2e})\n")
