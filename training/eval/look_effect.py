"""What a look does to faces: styled crops through the runtime translator, measured by region and identity.

Shared by ``livefilter eval``, the family publisher and the tests, so every number about a look is
measured one way: the runtime's onnxruntime translator, composited under the runtime's face-oval
mask (occluders cut out; a stylised look's: the head) in crop space, then compared region by region
(``training.eval.regions``) and by a real face recogniser (``training.eval.identity``).
"""

from __future__ import annotations

import numpy as np

from livefilter.looks.pack import Look
from livefilter.composite.masks import LandmarkMasker, head_masker
from livefilter.looks.code import spec_for_look
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from training.eval import identity
from training.eval.regions import face_change, reference_distance, summarise


def apply_look(look: Look, crops: np.ndarray, landmarks: np.ndarray, strength: float | None = None,
               code: np.ndarray | None = None, translator: OnnxRuntimeTranslator | None = None) -> np.ndarray:
    """Styled crops composited under the runtime's face-oval mask (occluders cut out; a stylised look's head
    mask), in crop space."""
    translator = translator or OnnxRuntimeTranslator(look)
    style = np.asarray(code if code is not None else look.style_code, np.float32)
    s = look.default_strength if strength is None else strength
    masker = head_masker(crops.shape[1]) if spec_for_look(look).head else LandmarkMasker(crops.shape[1])
    eye = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    out = np.empty_like(crops)
    for i in range(0, len(crops), 4):
        c = np.ascontiguousarray(crops[i:i + 4])
        styled = translator(c, style, np.full(len(c), s, np.float32)).astype(np.float32)
        for j in range(len(c)):
            m = masker.face(landmarks[i + j], eye, 0, c[j])[..., None]
            out[i + j] = np.clip(c[j] + m * (styled[j] - c[j]), 0, 255).round().astype(np.uint8)
    return out


def measure(look: Look, crops: np.ndarray, landmarks: np.ndarray, ref_desc: dict[str, float] | None,
            strength: float | None = None, input_embeddings: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Region change, reference distance and identity of ``look`` on aligned faces; also the styled crops.

    ``input_embeddings`` (FaceNet embeddings of ``crops``) saves recomputing them for every look."""
    after = apply_look(look, crops, landmarks, strength)
    changes = [face_change(b, a, p) for b, a, p in zip(crops, after, landmarks)]
    res = summarise(changes)
    if ref_desc is not None:
        res["reference_distance_before"] = reference_distance([c.before for c in changes], ref_desc)
        res["reference_distance_after"] = reference_distance([c.after for c in changes], ref_desc)
    reason = identity.unavailable_reason()
    if reason is None:
        e0 = identity.embed(crops) if input_embeddings is None else input_embeddings
        res["identity"] = identity.compare(e0, identity.embed(after))
    else:
        res["identity"] = identity.not_measured(reason)
    return res, after
