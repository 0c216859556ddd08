"""The style encoder graph: an aligned face and its measure masks -> mean CIELAB colour per region.

This is what ``livefilter looks create`` measures reference photos with. It ships as ONNX beside the
looks (``livefilter/looks/_style_encoder/``) so creating a look needs onnxruntime only, never torch.
The graph is the numpy reference :func:`livefilter.looks.region_stats.region_stats` written as a
torch module (sRGB -> CIELAB from ``training.makeup.colour``, masked means) and exported at the
project's pinned opset with a dynamic batch and crop size; :func:`export_style_encoder` checks its
parity against the numpy code on real faces before it writes the manifest with the graph's sha256.

Rebuild: ``python -m training.style_encoder`` (needs the train extra).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from exporters.onnx_export import OPSET, torchscript_export
from livefilter.looks.encoder import ENCODER_DIR, MANIFEST, MIN_PIXELS, STAT_REGIONS
from livefilter.looks.pack import sha256_file

log = logging.getLogger(__name__)

MODEL_FILE = "style_encoder.onnx"
# OpenCV's float RGB->Lab interpolates its gamma and cube-root curves from tables (per-pixel error up
# to ~0.3, mean ~0.08 Lab against the exact formulas the graph uses); region means agree to this:
PARITY_LAB = 0.25


def region_colour_module():
    import torch

    from training.makeup.colour import rgb_to_lab

    class RegionColourStats(torch.nn.Module):
        """(N, 3, H, W) RGB 0..255 and (N, R, H, W) 0/1 masks -> (N, R, 4): mean L, a, b and pixel count."""

        def forward(self, image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
            lab = rgb_to_lab(image / 255.0)  # (N, 3, H, W)
            count = masks.sum((2, 3))  # (N, R)
            sums = torch.einsum("nrhw,nchw->nrc", masks, lab)
            mean = sums / count.clamp(min=1.0).unsqueeze(-1)
            return torch.cat([mean, count.unsqueeze(-1)], -1)

    return RegionColourStats().eval()


def export_graph(path: Path) -> None:
    import torch

    module = region_colour_module()
    image = torch.rand(2, 3, 64, 64) * 255
    masks = (torch.rand(2, len(STAT_REGIONS), 64, 64) > 0.5).float()
    torchscript_export(module, (image, masks), path, input_names=["image", "masks"], output_names=["stats"],
                       dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, "masks": {0: "N", 2: "H", 3: "W"},
                                     "stats": {0: "N"}},
                       opset_version=OPSET)


def parity(encoder, crops: np.ndarray, landmarks: np.ndarray) -> float:
    """Worst |ONNX - numpy| over every region's mean Lab (regions numpy measures), in Lab units."""
    from livefilter.looks.region_stats import face_stats

    worst = 0.0
    for stats, c, p in zip(encoder.face_stats(crops, landmarks), crops, landmarks):
        ref = face_stats(c, p).lab
        ok = np.isfinite(ref)
        if ok.any():
            worst = max(worst, float(np.abs(stats.lab[ok] - ref[ok]).max()))
        if not np.array_equal(np.isfinite(stats.lab), ok):
            raise AssertionError("the encoder and numpy disagree on which regions have pixels")
    return worst


def export_style_encoder(out_dir: Path = ENCODER_DIR, check_faces: tuple[np.ndarray, np.ndarray] | None = None,
                         tolerance: float = PARITY_LAB) -> dict:
    """Export the graph into ``out_dir`` (atomically), check parity, write its manifest with the sha256."""
    from livefilter.looks.encoder import StyleEncoder

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        staged = Path(tmp) / MODEL_FILE
        export_graph(staged)
        manifest = {
            "format": 1, "model": MODEL_FILE, "onnx_sha256": sha256_file(staged), "opset": OPSET,
            "inputs": {"image": "(N, 3, H, W) float32 RGB 0..255, aligned crop (padding 0.25)",
                       "masks": f"(N, {len(STAT_REGIONS)}, H, W) float32 0/1 measure masks (livefilter.composite.regions)"},
            "output": {"stats": f"(N, {len(STAT_REGIONS)}, 4): mean L, a, b (CIELAB D65, L 0..100) and pixel count"},
            "regions": list(STAT_REGIONS), "min_pixels": MIN_PIXELS,
        }
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if check_faces is not None:
            worst = parity(StyleEncoder(Path(tmp)), *check_faces)
            if worst > tolerance:
                raise AssertionError(f"style encoder parity {worst:.4f} Lab exceeds {tolerance}")
            manifest["parity_max_abs_lab"] = round(worst, 5)
            manifest["parity_faces"] = int(len(check_faces[0]))
            (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        staged.replace(out_dir / MODEL_FILE)
        (Path(tmp) / MANIFEST).replace(out_dir / MANIFEST)
    manifest["export_seconds"] = round(time.perf_counter() - t0, 2)
    return manifest


def _real_faces(data_root: Path, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    from livefilter.align.host import Aligner
    from training.data import prepare_crops

    faces = data_root / "faces"
    cs = prepare_crops(sorted(faces.glob("makeup_*/makeup")) + [faces / "dualstylegan_content"], Aligner(256, 0.25))
    return cs.crops[:n], cs.landmarks[:n]


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    print(json.dumps(export_style_encoder(ENCODER_DIR, _real_faces(root)), indent=2))
