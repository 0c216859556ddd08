"""Metric definitions. Each takes uint8 RGB arrays unless stated and has a known answer on
constructed cases (see tests/test_metrics.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over channels (Gaussian window 11, sigma 1.5; Wang et al. 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    a = a.reshape(-1, *a.shape[-3:]) if a.ndim == 4 else a[None]
    b = b.reshape(-1, *b.shape[-3:]) if b.ndim == 4 else b[None]
    for x, y in zip(a.astype(np.float64), b.astype(np.float64)):
        for ch in range(x.shape[-1]):
            p, q = x[..., ch], y[..., ch]
            blur = lambda t: cv2.GaussianBlur(t, (11, 11), 1.5)  # noqa: E731
            mp, mq = blur(p), blur(q)
            spp, sqq, spq = blur(p * p) - mp**2, blur(q * q) - mq**2, blur(p * q) - mp * mq
            m = ((2 * mp * mq + c1) * (2 * spq + c2)) / ((mp**2 + mq**2 + c1) * (spp + sqq + c2))
            vals.append(m.mean())
    return float(np.mean(vals))


def identity_similarity(embed, originals: np.ndarray, styled: np.ndarray) -> float:
    """Mean cosine similarity of identity embeddings, original vs styled (1.0 = unchanged)."""
    ea, eb = embed(originals), embed(styled)
    ea = ea / np.linalg.norm(ea, axis=1, keepdims=True)
    eb = eb / np.linalg.norm(eb, axis=1, keepdims=True)
    return float((ea * eb).sum(1).mean())


def colour_stats(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel mean and std (in Lab) inside the mask, over a batch: (6,)."""
    lab = np.stack([cv2.cvtColor(im, cv2.COLOR_RGB2LAB) for im in x]).astype(np.float64)
    w = np.broadcast_to(mask[None, :, :, None], lab.shape[:3] + (1,))
    total = w.sum()
    mean = (lab * w).sum((0, 1, 2)) / total
    std = np.sqrt((((lab - mean) ** 2) * w).sum((0, 1, 2)) / total)
    return np.concatenate([mean, std])


def style_distance(styled: np.ndarray, refs: np.ndarray, mask: np.ndarray) -> float:
    """L2 distance of Lab colour statistics on the face region (0 = same statistics)."""
    return float(np.linalg.norm(colour_stats(styled, mask) - colour_stats(refs, mask)))


def flicker_ratio(inputs: list[np.ndarray], outputs: list[np.ndarray], mask: np.ndarray | None = None) -> float:
    """Mean frame-to-frame change of the output relative to the input's own (1.0 = no added flicker).

    Frames are aligned face crops (or full frames); ``mask`` restricts to the styled region.
    """
    def change(frames):
        f = np.stack(frames).astype(np.float64)
        d = np.abs(np.diff(f, axis=0)).mean(-1)
        if mask is not None:
            return float((d * mask).sum() / (mask.sum() * len(d)))
        return float(d.mean())

    base = change(inputs)
    return change(outputs) / base if base > 0 else float("inf")


def warped_flicker_ratio(inputs: list[np.ndarray], outputs: list[np.ndarray],
                         mask: np.ndarray | None = None) -> float:
    """Motion-compensated flicker: the output's warping error relative to the input's (1.0 = no added flicker).

    The warping error of a video (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018) is the
    mean |frame_t - frame_{t-1} warped to t| over pixels whose motion is known: the flow is measured on the
    INPUT (OpenCV's DIS flow) and used for both videos, and pixels that fail the forward-backward check
    (occluded, or where the flow is unreliable) are left out. Colour that moves with the content -- a
    lipstick following the mouth -- is followed by the flow and costs nothing; colour that changes where the
    content does not move is counted. ``flicker_ratio`` counts both, so a deeper makeup scores worse there
    without flickering. ``mask`` (H, W) in [0, 1] weighs the styled region.
    """
    return warped_ratio(*warping_errors(inputs, outputs, mask))


def warped_ratio(err_out: np.ndarray, err_in: np.ndarray) -> float:
    """The warped flicker ratio of per-pair warping errors (:func:`warping_errors`)."""
    return float(err_out.sum() / err_in.sum()) if err_in.sum() > 0 else float("inf")


def warping_errors(inputs: list[np.ndarray], outputs: list[np.ndarray],
                   mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of consecutive frames, the output's and the input's summed warping error
    (:func:`warped_flicker_ratio` is the ratio of their sums)."""
    if len(inputs) != len(outputs) or len(inputs) < 2:
        raise ValueError("warped_flicker_ratio needs two or more frames, as many outputs as inputs")
    h, w = inputs[0].shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    weight = np.ones((h, w), np.float32) if mask is None else np.asarray(mask, np.float32)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in inputs]
    err_out, err_in = np.zeros(len(inputs) - 1), np.zeros(len(inputs) - 1)
    for t in range(1, len(inputs)):
        back = dis.calc(grey[t], grey[t - 1], None)  # where each pixel of frame t was in frame t-1
        fwd = dis.calc(grey[t - 1], grey[t], None)
        where = grid + back
        fwd_at = cv2.remap(fwd, where[..., 0], where[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # forward-backward consistency (Sundaram et al. 2010): the two flows cancel where the motion is known
        gap = ((back + fwd_at) ** 2).sum(-1)
        known = gap < 0.01 * ((back ** 2).sum(-1) + (fwd_at ** 2).sum(-1)) + 0.5
        inside = (where[..., 0] >= 0) & (where[..., 0] <= w - 1) & (where[..., 1] >= 0) & (where[..., 1] <= h - 1)
        wt = weight * (known & inside)

        def residual(frames: list[np.ndarray]) -> float:
            prev = cv2.remap(frames[t - 1].astype(np.float32), where[..., 0], where[..., 1], cv2.INTER_LINEAR)
            return float((np.abs(frames[t].astype(np.float32) - prev).mean(-1) * wt).sum())

        err_in[t - 1], err_out[t - 1] = residual(inputs), residual(outputs)
    return err_out, err_in


def seam_ratio(image: np.ndarray, mask: np.ndarray, band: int = 3) -> float:
    """Gradient energy across the mask boundary relative to the mask interior (1.0 = invisible seam).

    ``mask`` is the (feathered) composite mask in [0, 1]; the boundary band is where it crosses 0.5.
    """
    # colour gradients (a hue seam can have no luminance step), strongest channel per pixel
    g = image.astype(np.float64)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_64F, 1, 0), cv2.Sobel(g, cv2.CV_64F, 0, 1)).max(-1)
    hard = (mask > 0.5).astype(np.uint8)
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    boundary = (cv2.dilate(hard, kernel) - cv2.erode(hard, kernel)).astype(bool)
    interior = cv2.erode(hard, kernel, iterations=3).astype(bool)
    if not boundary.any() or not interior.any():
        return float("nan")
    return float(mag[boundary].mean() / max(mag[interior].mean(), 1e-9))
