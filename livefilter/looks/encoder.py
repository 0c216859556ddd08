"""The shipped style encoder (ONNX): aligned faces -> region colour statistics, through onnxruntime.

``livefilter looks create`` measures reference photos with this graph (no torch at run time). It is
data like a look: ``_style_encoder/encoder.json`` names the graph and its sha256, which is checked
before the graph is loaded; a created look records the sha256 it was measured with. The graph is
built by ``training/style_encoder.py`` and matches :func:`livefilter.looks.region_stats.region_stats`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from livefilter.errors import ModelError
from livefilter.infra.onnx_session import create_session
from livefilter.looks.pack import check_member_path, sha256_file
from livefilter.looks.region_stats import STAT_REGIONS, RegionStats
from livefilter.infra.paths import PACKAGED_LOOKS_DIR
from livefilter.composite.regions import face_regions

ENCODER_DIR = PACKAGED_LOOKS_DIR / "_style_encoder"
MANIFEST = "encoder.json"
MIN_PIXELS = 8  # a region with fewer pixels is not measured (NaN), as in region_stats


def measure_mask_stack(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(N, len(STAT_REGIONS), S, S) float32 0/1 measure masks for faces with these crop-space landmarks."""
    out = np.zeros((len(landmarks), len(STAT_REGIONS), size, size), np.float32)
    for i, pts in enumerate(landmarks):  # polygons per face, not pixels
        m = face_regions(pts, size).measure
        for j, r in enumerate(STAT_REGIONS):
            out[i, j] = m[r]  # type: ignore[index]
    return out


class StyleEncoder:
    """Region colour statistics of aligned faces through the shipped ONNX graph."""

    def __init__(self, folder: Path = ENCODER_DIR, threads: int = 1) -> None:
        folder = Path(folder)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            model = folder / check_member_path(manifest["model"])
            expected = manifest["onnx_sha256"]
            regions = tuple(manifest["regions"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"the style encoder in {folder} is missing or broken ({type(e).__name__}); "
                             "reinstall livefilter") from None
        if regions != STAT_REGIONS:
            raise ModelError(f"the style encoder measures {regions}, this livefilter needs {STAT_REGIONS}")
        if not model.is_file() or sha256_file(model) != expected:
            raise ModelError(f"the style encoder graph {model.name} does not match its sha256 (corrupt?)")
        self.sha256 = expected
        self.session = create_session(model, threads, ["CPUExecutionProvider"])

    def stats(self, crops: np.ndarray, masks: np.ndarray, batch: int = 8) -> np.ndarray:
        """(N, S, S, 3) uint8 crops and (N, R, S, S) masks -> (N, R, 4) mean L, a, b and pixel count."""
        out = []
        for i in range(0, len(crops), batch):
            image = np.ascontiguousarray(crops[i:i + batch].transpose(0, 3, 1, 2), np.float32)
            out.append(self.session.run(["stats"], {"image": image, "masks": np.ascontiguousarray(masks[i:i + batch])})[0])
        return np.concatenate(out) if out else np.zeros((0, len(STAT_REGIONS), 4), np.float32)

    def region_stats(self, crops: np.ndarray, masks: np.ndarray) -> list[RegionStats]:
        raw = self.stats(crops, masks)
        lab = np.where(raw[..., 3:4] >= MIN_PIXELS, raw[..., :3], np.nan).astype(np.float32)
        return [RegionStats(x) for x in lab]

    def face_stats(self, crops: np.ndarray, landmarks: np.ndarray) -> list[RegionStats]:
        return self.region_stats(crops, measure_mask_stack(landmarks, crops.shape[1]))

    def descriptors(self, crops: np.ndarray, landmarks: np.ndarray) -> list[dict[str, float]]:
        """Skin-relative makeup descriptors per face (what a look code is encoded from)."""
        return [s.relative() for s in self.face_stats(crops, landmarks)]
