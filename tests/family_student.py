"""A small real family student for tests: ``training.makeup`` for a few steps, exported like the family.

Look creation reuses the shipped family student; tests build their own (tiny, CI-sized) so they do
not depend on the packaged looks' weights. The student is trained on the makeup renderer's targets on
real faces with codes encoded from real makeup references, so it paints lips in the code's colour
(roughly: it is trained for a minute, not hours), and exported through the project's own ONNX export
with a dynamic batch and size, into a look folder whose style input takes a :class:`LookCode`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livefilter.looks.code import CODE_DIM, LookCode

SIZE = 128


def _faces(shared: Path):
    from livefilter.align.host import Aligner
    from training.data import prepare_crops
    from training.makeup.dataset import build_faceset

    faces = shared / "faces"
    cs = prepare_crops([faces / "makeup_beautygan_honlan" / "non-makeup", faces / "makeup_ybeauty" / "non-makeup",
                        faces / "makeup_elegant" / "non-makeup"], Aligner(SIZE, 0.25))
    return build_faceset(cs, list(cs.sources))


def _codes(shared: Path) -> tuple[list[LookCode], list[dict], dict]:
    from livefilter.align.host import Aligner
    from livefilter.looks.region_stats import Recipe, descriptors_of, encode_descriptors, load_baseline, robust_mean
    from training.data import prepare_crops

    refs = prepare_crops(sorted((shared / "faces").glob("makeup_*/makeup")), Aligner(256, 0.25))
    desc = descriptors_of(refs.crops, refs.landmarks)
    base = load_baseline()
    family = [encode_descriptors(robust_mean(desc[i::3]), base, Recipe(lips=1.0, eyes=0.8, blush=0.8, gain=1.2))
              for i in range(3)]
    return family, desc, base


def build_student_look(out_dir: Path, shared: Path | None, *, iterations: int = 0, name: str = "family-base") -> Path:
    """Write a look folder holding a (trained for ``iterations`` steps, or untrained) family student."""
    import torch

    from exporters.look_pack import write_look_pack
    from training.models.student import Student, StudentConfig

    cfg = StudentConfig(base=8, style_dim=CODE_DIM, mid_blocks=1)
    family = [LookCode(lips_opacity=1.0, lips_a=45.0, lips_b=20.0, lips_dL=-8.0)]
    if iterations and shared is not None:
        from training.makeup.sampler import CodeSampler
        from training.makeup.trainer import FamilyConfig, FamilyTrainer

        family, desc, base = _codes(shared)
        sampler = CodeSampler(family, desc, base, np.random.default_rng(1))
        trainer = FamilyTrainer(FamilyConfig(iterations=iterations, batch=6, lr=4e-3, sizes=(SIZE,), threads=2,
                                             checkpoint_every=10 ** 9, student=cfg), _faces(shared), sampler,
                                out_dir / ".train")
        trainer.run()
        student = trainer.student.eval()
    else:
        torch.manual_seed(0)
        student = Student(cfg).eval()
    onnx_path = out_dir / ".train" / "student.onnx"
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    from exporters.onnx_export import export_onnx

    export_onnx(student, onnx_path, input_size=SIZE, style_dim=CODE_DIM, look_name=name, dynamic_size=True,
                check_sizes=(SIZE, 2 * SIZE), check_batches=(1, 2))
    look, _ = write_look_pack(student, out_dir, name=name, style_code=family[0].vector().tolist(), input_size=SIZE,
                              device_input_size=2 * SIZE, align_padding=0.25, title="Family base",
                              regions=family[0].regions(), onnx_from=onnx_path)
    return look.root
