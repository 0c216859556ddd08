"""Faces for the look family: aligned crops, their region masks and the renderer's precomputed layers.

Crops come from the runtime's own detector and Aligner (``training.data.prepare_crops``), grouped by
folder so the eval split can hold whole sources out. Edge-preserving layers (foundation smoothing,
painted shading, ink lines) are computed once per crop with OpenCV; the renderer mixes them per look.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livefilter.align.host import Aligner
from livefilter.looks.region_stats import face_stats, ita_group
from livefilter.composite.regions import batch_regions
from training.data import CropSet, prepare_crops

log = logging.getLogger(__name__)

# Not plain faces: makeup references, artistic style references, paintings and statues.
NOT_SOURCES = ("/makeup/", "dualstylegan_style_refs", "animegan2_samples", "liveportrait_source", "gray_faces")
# Whole folders that are only ever evaluated on (never trained on), plus every 6th other face.
EVAL_FOLDERS = ("dualstylegan_content", "vtoonify_data", "liveportrait_driving_frames", "face_recognition_examples")
EVAL_EVERY = 6


@dataclass
class FaceSet:
    crops: np.ndarray  # (N, S, S, 3) uint8
    landmarks: np.ndarray  # (N, 468, 2) float32, crop pixels
    sources: list[str]  # "folder/file"
    masks: np.ndarray  # (N, R, S, S) uint8, soft masks * 255
    smooth: np.ndarray  # (N, S, S, 3) uint8
    painted: np.ndarray  # (N, S, S, 3) uint8
    edges: np.ndarray  # (N, S, S) uint8
    skin_groups: list[str]  # ITA group per face

    def __len__(self) -> int:
        return len(self.crops)

    def subset(self, idx: np.ndarray) -> "FaceSet":
        return FaceSet(self.crops[idx], self.landmarks[idx], [self.sources[i] for i in idx], self.masks[idx],
                       self.smooth[idx], self.painted[idx], self.edges[idx], [self.skin_groups[i] for i in idx])


def is_eval(source: str) -> bool:
    folder = source.split("/")[0]
    if folder in EVAL_FOLDERS:
        return True
    return int(hashlib.sha1(source.encode()).hexdigest(), 16) % EVAL_EVERY == 0


def source_folders(data_root: Path) -> list[Path]:
    faces = data_root / "faces"
    dirs = sorted({p.parent for p in faces.rglob("*") if p.is_file()})
    return [d for d in dirs if not any(x in d.as_posix() + "/" for x in NOT_SOURCES)]


def foundation_layer(crop: np.ndarray) -> np.ndarray:
    """The foundation-smoothed crop (two edge-preserving bilateral passes), RGB at the crop's size."""
    u = crop.shape[0] / 256.0
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    return cv2.bilateralFilter(cv2.bilateralFilter(bgr, 0, 18, 4 * u), 0, 14, 3 * u)[:, :, ::-1].copy()


def paint_layers(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(foundation-smoothed, painted, ink edges) for one crop, all at the crop's size."""
    u = crop.shape[0] / 256.0
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    painted = cv2.stylization(bgr, sigma_s=40 * u, sigma_r=0.35)
    # Ink only on strong, long structure (the face outline, eyes, brows, lips): not on skin texture.
    grey = cv2.GaussianBlur(cv2.cvtColor(painted, cv2.COLOR_BGR2GRAY), (0, 0), 2.0 * u)
    edges = cv2.Canny(grey, 30, 70)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(edges, connectivity=8)
    long_enough = np.zeros(n, bool)
    long_enough[1:] = stats[1:, cv2.CC_STAT_AREA] >= 25 * u
    edges = np.where(long_enough[lab], 255, 0).astype(np.uint8)
    edges = cv2.GaussianBlur(edges, (0, 0), 0.8 * u)
    return foundation_layer(crop), painted[:, :, ::-1].copy(), edges


def build_faceset(crops: CropSet, labels: list[str]) -> FaceSet:
    size = crops.crops.shape[1]
    soft, _ = batch_regions(crops.landmarks, size)
    layers = [paint_layers(c) for c in crops.crops]
    groups = [ita_group(face_stats(c, p).get("skin")) for c, p in zip(crops.crops, crops.landmarks)]
    return FaceSet(crops.crops, crops.landmarks.astype(np.float32), labels,
                   np.round(soft * 255).astype(np.uint8), np.stack([x[0] for x in layers]),
                   np.stack([x[1] for x in layers]), np.stack([x[2] for x in layers]), groups)


def load_faces(data_root: Path, size: int, cache: Path, *, include_video: bool = True, progress=None) -> FaceSet:
    """Every plain face under ``data_root`` (photos per folder, plus sampled video frames)."""
    aligner = Aligner(size, 0.25)
    sets: list[CropSet] = []
    labels: list[str] = []
    folders = source_folders(data_root)
    for i, folder in enumerate(folders):
        try:
            cs = prepare_crops([folder], aligner, cache, max_faces_per_image=2)
        except Exception as e:  # a folder with no detectable face is skipped, not fatal
            log.info("skipping %s: %s", folder, e)
            continue
        rel = folder.relative_to(data_root / "faces").as_posix().replace("/", "_")
        sets.append(cs)
        labels += [f"{rel}/{s}" for s in cs.sources]
        if progress:
            progress(i + 1, len(folders) + 1)
    if include_video and (data_root / "video").is_dir():
        cs = prepare_crops([data_root / "video"], aligner, cache, video_every=24, video_limit=8)
        sets.append(cs)
        labels += [f"video/{s}" for s in cs.sources]
    merged = CropSet(np.concatenate([s.crops for s in sets]), labels,
                     np.concatenate([s.landmarks for s in sets]).astype(np.float32))
    return build_faceset(merged, labels)


def split(faces: FaceSet) -> tuple[FaceSet, FaceSet]:
    """(train, eval): eval holds whole folders and a hashed sixth of the rest out."""
    ev = np.array([is_eval(s) for s in faces.sources])
    return faces.subset(np.flatnonzero(~ev)), faces.subset(np.flatnonzero(ev))
