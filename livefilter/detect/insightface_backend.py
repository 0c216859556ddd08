"""Optional detector: insightface SCRFD + 2d106 landmarks (``--detector insightface``).

Used only when the user selects it. insightface is imported lazily; when it (or one of its own
dependencies) is missing, or its model pack is not on disk and downloading is not allowed or fails,
a one-line :class:`~livefilter.errors.ModelError` says what to do, and the bundled BlazeFace
backend remains available.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from livefilter.errors import ModelError
from livefilter.types import Face

log = logging.getLogger(__name__)

DEFAULT_PACK = "buffalo_l"


def insightface_root() -> Path:
    """insightface's model root (``$INSIGHTFACE_HOME`` or ``~/.insightface``)."""
    return Path(os.environ.get("INSIGHTFACE_HOME", Path.home() / ".insightface")).expanduser()


def model_root() -> Path:
    return insightface_root() / "models"


def pack_present(pack: str = DEFAULT_PACK, root: Path | None = None) -> bool:
    d = (root or model_root()) / pack
    return d.is_dir() and any(d.glob("*.onnx"))


def map_keypoints(kps: np.ndarray) -> np.ndarray:
    """insightface's five points -> livefilter's order (KEYPOINT_NAMES).

    SCRFD emits the ArcFace template order: eye, eye, nose, mouth corner, mouth corner, image-left
    first in each pair (the template's x: 38.3 < 73.5, 41.5 < 70.7) - the same order as ours, so
    the map is the identity; it is a function so the assumption lives in one tested place.
    """
    return np.asarray(kps, np.float32).reshape(5, 2)[[0, 1, 2, 3, 4]]


class InsightFaceDetector:
    """SCRFD boxes + five keypoints (+ 106 landmarks) through insightface's ``FaceAnalysis``."""

    def __init__(
        self,
        pack: str = DEFAULT_PACK,
        det_size: int = 640,
        root: Path | None = None,
        allow_download: bool = True,
        score_threshold: float = 0.5,
    ) -> None:
        try:
            from insightface.app import FaceAnalysis
        except Exception as e:  # noqa: BLE001 - ImportError, or any failure of insightface's own imports
            detail = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
            raise ModelError(
                f"the insightface detector is unavailable ({detail}): pip install insightface "
                "scikit-image, or use --detector blazeface"
            ) from None
        mroot = Path(root) if root is not None else model_root()
        pack_dir = mroot / pack
        if not pack_present(pack, mroot) and not allow_download:
            raise ModelError(
                f"insightface model pack '{pack}' not found in {pack_dir}: download it once (run with network) "
                "or use --detector blazeface"
            )
        try:
            if pack_present(pack, mroot):
                self.app = FaceAnalysis(name=str(pack_dir), allowed_modules=["detection", "landmark_2d_106"])
            else:
                log.warning("insightface model pack %s not in %s; insightface will download it", pack, mroot)
                self.app = FaceAnalysis(name=pack, root=str(mroot.parent),
                                        allowed_modules=["detection", "landmark_2d_106"])
            self.app.prepare(ctx_id=-1, det_thresh=score_threshold, det_size=(det_size, det_size))
        except Exception as e:  # noqa: BLE001 - download / load failures surface as many exception types
            raise ModelError(
                f"insightface model pack '{pack}' could not be loaded or downloaded ({type(e).__name__}); "
                f"place it in {pack_dir} or use --detector blazeface"
            ) from None

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an RGB frame, largest first (insightface itself expects BGR)."""
        found = self.app.get(np.ascontiguousarray(image[:, :, ::-1]))
        out = []
        for f in found:
            lm = getattr(f, "landmark_2d_106", None)
            out.append(Face(np.asarray(f.bbox, np.float32).reshape(4), float(f.det_score), map_keypoints(f.kps),
                            np.asarray(lm, np.float32) if lm is not None else None))
        return sorted(out, key=lambda x: -x.area)
