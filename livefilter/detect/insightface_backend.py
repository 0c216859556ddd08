"""Optional detector: insightface SCRFD + 2d106 landmarks, for users who have its model pack.

insightface downloads its model zoo on first use; without a network (or without the package) this
backend raises a one-line ModelError and the default BlazeFace backend remains available.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from livefilter.errors import ModelError
from livefilter.types import Face

log = logging.getLogger(__name__)


def model_root() -> Path:
    return Path(os.environ.get("INSIGHTFACE_HOME", Path.home() / ".insightface")) / "models"


class InsightFaceDetector:
    def __init__(self, pack: str = "buffalo_l", det_size: int = 640) -> None:
        try:
            from insightface.app import FaceAnalysis
        except Exception as e:  # ImportError, or a broken optional dependency of insightface
            raise ModelError(f"insightface detector unavailable ({type(e).__name__}): pip install insightface") from None
        if not (model_root() / pack).is_dir():
            log.warning("insightface model pack %s not in %s; insightface will try to download it", pack, model_root())
        try:
            self.app = FaceAnalysis(name=pack, allowed_modules=["detection", "landmark_2d_106"])
            self.app.prepare(ctx_id=-1, det_size=(det_size, det_size))
        except Exception as e:  # download failures surface as many exception types
            raise ModelError(
                f"insightface model pack '{pack}' could not be loaded or downloaded ({type(e).__name__}); "
                f"place it in {model_root() / pack} or use --detector blazeface"
            ) from None

    def detect(self, image: np.ndarray) -> list[Face]:
        # insightface expects BGR
        faces = self.app.get(np.ascontiguousarray(image[:, :, ::-1]))
        out = []
        for f in faces:
            kps = np.asarray(f.kps, np.float32)  # left eye, right eye, nose, mouth left, mouth right
            lm = getattr(f, "landmark_2d_106", None)
            out.append(Face(np.asarray(f.bbox, np.float32), float(f.det_score), kps,
                            np.asarray(lm, np.float32) if lm is not None else None))
        return sorted(out, key=lambda x: -x.area)
