"""What a look does to faces: styled crops through the runtime translator, measured by region and identity.

Shared by ``livefilter eval``, the family publisher and the tests, so every number about a look is
measured one way: the runtime's onnxruntime translator, composited under the runtime's face-oval
mask (occluders cut out; a stylised look's: the head) in crop space, or through the runtime's whole
composite (``placement``: what a viewer sees), then compared region by region (``training.eval.regions``)
and by a real face recogniser (``training.eval.identity``).
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
               code: np.ndarray | None = None, translator: OnnxRuntimeTranslator | None = None,
               placement: bool = False) -> np.ndarray:
    """Styled crops composited under the runtime's face-oval mask (occluders cut out; a stylised look's head
    mask), in crop space. ``placement``: through the runtime's whole composite instead, as a viewer sees the
    look (:class:`~livefilter.pipeline.host.LookRuntime`'s blender: the makeup placed by region, the lip line
    and the mouth and eye openings exact, the lips' detail kept), with each crop as the frame; the crops must
    be the look's input size."""
    translator = translator or OnnxRuntimeTranslator(look)
    style = np.asarray(code if code is not None else look.style_code, np.float32)
    s = look.default_strength if strength is None else strength
    out = np.empty_like(crops)
    if placement:
        return _through_runtime(look, translator, crops, landmarks, style, s, out)
    eye = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    masker = head_masker(crops.shape[1]) if spec_for_look(look).head else LandmarkMasker(crops.shape[1])
    for i in range(0, len(crops), 4):
        c = np.ascontiguousarray(crops[i:i + 4])
        styled = translator(c, style, np.full(len(c), s, np.float32)).astype(np.float32)
        for j in range(len(c)):
            m = masker.face(landmarks[i + j], eye, 0, c[j])[..., None]
            out[i + j] = np.clip(c[j] + m * (styled[j] - c[j]), 0, 255).round().astype(np.uint8)
    return out


def _through_runtime(look: Look, translator, crops: np.ndarray, landmarks: np.ndarray, style: np.ndarray,
                     strength: float, out: np.ndarray) -> np.ndarray:
    from livefilter.errors import InputError
    from livefilter.pipeline.host import LookRuntime

    if crops.shape[1] != look.input_size:
        raise InputError(f"crops of {crops.shape[1]} px through the runtime of a {look.input_size} px look")
    rt = LookRuntime(look, translator, 4, placement=True)
    eye = np.array([[[1, 0, 0], [0, 1, 0]]], np.float64)
    alpha = np.float32([1.0 if rt.strength_in_network else strength])
    for i in range(0, len(crops), 4):
        c = np.ascontiguousarray(crops[i:i + 4])
        styled = translator(c, style, np.full(len(c), strength, np.float32))
        for j in range(len(c)):
            lm = np.asarray(landmarks[i + j], np.float64)
            out[i + j] = c[j]
            rt.blender.blend(out[i + j], c[j:j + 1], styled[j:j + 1], eye, alpha,
                             [rt.masker.face(lm, eye[0], 0, c[j])], [lm])
    return out


def measure(look: Look, crops: np.ndarray, landmarks: np.ndarray, ref_desc: dict[str, float] | None,
            strength: float | None = None, input_embeddings: np.ndarray | None = None,
            placement: bool = False, with_identity: bool = True) -> tuple[dict, np.ndarray]:
    """Region change, reference distance and identity of ``look`` on aligned faces; also the styled crops.

    ``input_embeddings`` (FaceNet embeddings of ``crops``) saves recomputing them for every look;
    ``placement``: the crops through the runtime's whole composite (:func:`apply_look`); ``with_identity``
    False leaves the identity to the caller (no "identity" entry)."""
    after = apply_look(look, crops, landmarks, strength, placement=placement)
    changes = [face_change(b, a, p) for b, a, p in zip(crops, after, landmarks)]
    res = summarise(changes)
    if ref_desc is not None:
        res["reference_distance_before"] = reference_distance([c.before for c in changes], ref_desc)
        res["reference_distance_after"] = reference_distance([c.after for c in changes], ref_desc)
    if with_identity:
        reason = identity.unavailable_reason()
        if reason is None:
            e0 = identity.embed(crops) if input_embeddings is None else input_embeddings
            res["identity"] = identity.compare(e0, identity.embed(after))
        else:
            res["identity"] = identity.not_measured(reason)
    return res, after
