"""Write a complete look pack (look.json + student.onnx + preview.jpg) and validate it."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from exporters.onnx_export import ExportReport, export_onnx
from livefilter.finish.settings import FinishSettings
from livefilter.demo.clip import save_rgb
from livefilter.looks.pack import ColorEdits, Look, Normalisation, check_look_name, load_look, sha256_file


def write_look_pack(
    student,
    out_dir: Path,
    *,
    name: str,
    style_code: list[float],
    input_size: int,
    align_padding: float,
    title: str = "",
    description: str = "",
    default_strength: float = 1.0,
    training: dict | None = None,
    metrics: dict | None = None,
    preview: np.ndarray | None = None,
    onnx_from: Path | None = None,
    author: str = "livefilter",
    licence: str = "Apache-2.0",
    normalisation: dict | None = None,
    device_input_size: int | None = None,
    regions: list[str] | None = None,
    finish: FinishSettings | None = None,
    composite: str = "face",
) -> tuple[Look, ExportReport | None]:
    """Export (or reuse an already exported ``onnx_from``) and write the look folder.

    The folder is validated with :func:`livefilter.looks.load_look` (sha256, ONNX inputs) before it
    is returned, so a pack that this returns is one the runtime accepts.
    """
    norm = normalisation or {"mean": [0.5] * 3, "std": [0.5] * 3}
    out = Path(out_dir) / check_look_name(name)  # the name becomes a folder: no '..', no '/'
    out.mkdir(parents=True, exist_ok=True)
    model = out / "student.onnx"
    report = None
    if onnx_from is not None:
        shutil.copyfile(onnx_from, model)
    else:
        report = export_onnx(student, model, input_size=input_size, style_dim=len(style_code), look_name=name,
                             normalisation=norm)
    if preview is not None:
        save_rgb(out / "preview.jpg", preview, params=[cv2.IMWRITE_JPEG_QUALITY, 88])
    look = Look(
        name=name, root=out, title=title or name.title(), description=description, author=author, licence=licence,
        input_size=input_size, device_input_size=device_input_size, align_padding=align_padding,
        regions=list(regions or []),
        normalisation=Normalisation(tuple(norm["mean"]), tuple(norm["std"])),  # type: ignore[arg-type]
        input_names={"image": "image", "style": "style", "strength": "strength"}, output_name="output",
        style_code=[round(float(v), 6) for v in style_code], default_strength=default_strength, edits=ColorEdits(),
        composite=composite,
        finish=finish or FinishSettings(),
        onnx_sha256=sha256_file(model), preview="preview.jpg" if preview is not None else None,
        training=training or {}, metrics=(metrics or {}) | ({"export": report.to_dict()} if report else {}),
    )
    look.save()
    return load_look(out), report
