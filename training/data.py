"""Training data: real faces aligned with the runtime's own detector and Aligner, cached on disk.

Train/serve skew is a bug: the crops here come from exactly the code the live pipeline runs
(livefilter.detect.create_detector + livefilter.align.host.Aligner), and the face mask is the runtime
blender's mask in crop space.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livefilter.align.host import Aligner
from livefilter.errors import InputError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


@dataclass
class CropSet:
    crops: np.ndarray  # (N, S, S, 3) uint8
    sources: list[str]
    landmarks: np.ndarray | None = None  # (N, 468, 2) float32 FaceMesh points in crop space

    def __len__(self) -> int:
        return len(self.crops)


def list_media(paths: list[Path], exclude: tuple[str, ...] = ()) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        else:
            raise InputError(f"training data path not found: {p}")
    return [f for f in files if not any(x in f.as_posix() for x in exclude)]


def _read_frames(path: Path, every: int, limit: int) -> list[np.ndarray]:
    import av

    frames = []
    try:
        with av.open(str(path)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i % every == 0:
                    frames.append(f.to_ndarray(format="rgb24"))
                    if len(frames) >= limit:
                        break
    except av.error.FFmpegError as e:
        log.warning("skipping unreadable video %s (%s)", path, e)
    return frames


def _read_image(path: Path) -> np.ndarray | None:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else np.ascontiguousarray(img[:, :, ::-1])


def _cache_key(files: list[Path], aligner: Aligner, extra: dict) -> str:
    h = hashlib.sha256(json.dumps({"size": aligner.size, "padding": aligner.padding, **extra}).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def prepare_crops(
    paths: list[Path],
    aligner: Aligner,
    cache_dir: Path | None = None,
    *,
    exclude: tuple[str, ...] = (),
    max_faces_per_image: int = 1,
    video_every: int = 15,
    video_limit: int = 12,
    progress=None,
) -> CropSet:
    """Detect, align and cache face crops from images and videos."""
    files = list_media(paths, exclude)
    if not files:
        raise InputError(f"no images or videos found in {', '.join(str(p) for p in paths)}")
    key = _cache_key(files, aligner, {"faces": max_faces_per_image, "every": video_every, "limit": video_limit, "v": 2})
    cache = Path(cache_dir) / f"crops-{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return CropSet(z["crops"], [str(s) for s in z["sources"]], z["landmarks"].astype(np.float32))
    from livefilter.detect import create_detector

    detector = create_detector()
    crops, sources, marks = [], [], []
    for i, f in enumerate(files):
        images = _read_frames(f, video_every, video_limit) if f.suffix.lower() in VIDEO_SUFFIXES else [_read_image(f)]
        for img in images:
            if img is None:
                continue
            for face in detector.detect(img)[:max_faces_per_image]:
                m = aligner.transform(face.keypoints)
                crops.append(aligner.warp(img, m[None])[0])
                marks.append(face.landmarks @ m[:, :2].T + m[:, 2])
                sources.append(f.name)
        if progress:
            progress(i + 1, len(files))
    if not crops:
        raise InputError(f"no faces found in {len(files)} files under {', '.join(str(p) for p in paths)}")
    result = CropSet(np.stack(crops), sources, np.stack(marks).astype(np.float32))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, crops=result.crops, sources=np.array(sources),
                            landmarks=result.landmarks.astype(np.float16))
    return result
