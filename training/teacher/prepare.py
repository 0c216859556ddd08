"""One packed data file for the teacher: everything a run needs, prepared once, read without a network.

Training faces (never the eval split), the makeup and artistic references, each as JPEG bytes with
its 468 landmarks, its region masks as one PNG strip (the 9 soft makeup regions, the 5 hard measure
regions and the teacher's "forbidden" mask: mouth opening, eye openings and the band below the lower
lash line), its skin-relative region descriptors, and the run's ``family.json`` (look codes, which
references each look uses, the plain baseline). ``numpy.savez`` of plain arrays: no pickle.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livefilter.composite.regions import MEASURE_NAMES, REGION_NAMES, face_regions
from livefilter.detect.topology import LEFT_EYE, LIPS_INNER, LOWER_LID, RIGHT_EYE
from livefilter.errors import InputError
from training.makeup.dataset import FaceSet, foundation_layer, split
from training.makeup.prepare import faces_file, load_references, prepare_run, read_faces

log = logging.getLogger(__name__)

DESC_KEYS = ("lips_L_rel", "lips_a", "lips_b", "lid_L_rel", "lid_a", "lid_b", "cheek_a_rel", "cheek_b_rel",
             "cheek_L_rel", "brow_L_rel", "skin_L", "skin_a", "skin_b")
N_MASKS = len(REGION_NAMES) + len(MEASURE_NAMES) + 1  # soft regions, hard measure regions, forbidden
JPEG_QUALITY = 92
PACK_VERSION = 1


def forbidden_mask(pts: np.ndarray, size: int) -> np.ndarray:
    """Where no look may paint: the mouth opening (teeth), the eye openings and below the lower lash line."""
    m = np.zeros((size, size), np.float32)
    poly = lambda idx: np.round(pts[list(idx)] * 16).astype(np.int32)  # noqa: E731
    for idx in (LIPS_INNER, LEFT_EYE, RIGHT_EYE):
        cv2.fillPoly(m, [poly(idx)], 1.0, cv2.LINE_AA, 4)
    for side in (0, 1):
        low = pts[list(LOWER_LID[side])]
        width = float(np.linalg.norm(low[0] - low[-1]))
        band = np.concatenate([low, (low + np.array([0.0, 0.3 * width], np.float32))[::-1]])
        cv2.fillPoly(m, [np.round(band * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    return m


def mask_strip(pts: np.ndarray, size: int) -> np.ndarray:
    """(N_MASKS, S, S) uint8: soft regions, hard measure regions, forbidden."""
    r = face_regions(pts, size)
    soft = r.stack()
    hard = np.stack([r.measure[n] for n in MEASURE_NAMES]).astype(np.float32)
    allm = np.concatenate([soft, hard, forbidden_mask(pts, size)[None]])
    return np.round(np.clip(allm, 0, 1) * 255).astype(np.uint8)


def _encode(images: list[np.ndarray], ext: str, params: list[int]) -> tuple[np.ndarray, np.ndarray]:
    blobs = []
    for img in images:
        ok, buf = cv2.imencode(ext, img, params)
        if not ok:
            raise InputError(f"could not encode an image as {ext}")
        blobs.append(buf.ravel())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return (np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)), offsets


def _pack_images(crops: np.ndarray, marks: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    size = crops.shape[1]
    jpg, joff = _encode([c[:, :, ::-1] for c in crops], ".jpg", [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    strips = [np.concatenate(list(mask_strip(p, size)), 1) for p in marks]
    png, poff = _encode(strips, ".png", [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return {f"{prefix}_jpeg": jpg, f"{prefix}_jpeg_off": joff, f"{prefix}_masks_png": png,
            f"{prefix}_masks_off": poff, f"{prefix}_landmarks": marks.astype(np.float32)}


def write_pack(data_root: Path, run: Path, out: Path, size: int = 256) -> Path:
    """Prepare the run (faces, references, family codes) and write the packed file atomically."""
    info = prepare_run(data_root, run, size)
    train, _ = split(read_faces(faces_file(run, size)))
    refs = {k: load_references(data_root, k, run / "cache", size) for k in ("makeup", "style")}
    from livefilter.looks.region_stats import descriptors_of

    arrays = _pack_images(train.crops, train.landmarks, "face")
    desc = descriptors_of(train.crops, train.landmarks)
    arrays["face_desc"] = np.array([[d[k] for k in DESC_KEYS] for d in desc], np.float32)
    arrays["face_sources"] = np.array(train.sources)
    arrays["face_groups"] = np.array(train.skin_groups)
    rc = np.concatenate([refs["makeup"].crops, refs["style"].crops])
    rl = np.concatenate([refs["makeup"].landmarks, refs["style"].landmarks])
    arrays |= _pack_images(rc, rl, "ref")
    arrays["ref_names"] = np.array(refs["makeup"].names + refs["style"].names)
    arrays["ref_kind"] = np.array(["makeup"] * len(refs["makeup"].names) + ["style"] * len(refs["style"].names))
    keep = {k: v for k, v in info.items() if k not in ("eval_sources", "eval_skin_groups")}
    arrays["info_json"] = np.array(json.dumps(keep))
    arrays["version"] = np.array(PACK_VERSION)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)
    return out


@dataclass
class Pack:
    faces: FaceSet  # training faces with their renderer layers
    measure: np.ndarray  # (N, len(MEASURE_NAMES), S, S) uint8 0/255
    forbidden: np.ndarray  # (N, S, S) uint8
    desc: np.ndarray  # (N, len(DESC_KEYS)) float32
    ref_crops: np.ndarray
    ref_landmarks: np.ndarray
    ref_masks: np.ndarray  # (P, len(REGION_NAMES), S, S) uint8 soft masks
    ref_names: list[str]
    ref_kind: list[str]
    info: dict


def _decode(blob: np.ndarray, off: np.ndarray, flags: int) -> list[np.ndarray]:
    out = []
    for i in range(len(off) - 1):
        img = cv2.imdecode(blob[off[i]:off[i + 1]], flags)
        if img is None:
            raise InputError(f"the packed data file holds an image that does not decode (#{i})")
        out.append(img)
    return out


def illustrated(crops: np.ndarray, batch: int = 32) -> np.ndarray:
    """The toon look's paint layer: the classical illustration pseudo-target (``training.teacher.illustrate``),
    inked already, so the pack carries no separate edge layer."""
    from training.teacher.illustrate import illustrate

    return np.concatenate([illustrate(crops[i:i + batch]) for i in range(0, len(crops), batch)])


def _unstrip(strip: np.ndarray) -> np.ndarray:
    s = strip.shape[0]
    return strip.reshape(s, N_MASKS, s).transpose(1, 0, 2)


def read_pack(path: Path, threads: int = 8, limit: int | None = None) -> Pack:
    """Decode the packed file; the renderer's edge-preserving layers are recomputed (OpenCV, threaded)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"packed data file not found: {path} (write it with `python -m training.teacher prepare`)")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path} is not a packed data file ({type(e).__name__})") from None
    with z:
        if "version" not in z.files or int(z["version"]) != PACK_VERSION:
            raise InputError(f"{path} is not a version-{PACK_VERSION} packed data file")
        n = len(z["face_jpeg_off"]) - 1 if limit is None else min(limit, len(z["face_jpeg_off"]) - 1)
        foff, moff = z["face_jpeg_off"][:n + 1], z["face_masks_off"][:n + 1]
        crops = np.stack([c[:, :, ::-1] for c in _decode(z["face_jpeg"], foff, cv2.IMREAD_COLOR)])
        masks = np.stack([_unstrip(m) for m in _decode(z["face_masks_png"], moff, cv2.IMREAD_GRAYSCALE)])
        refs = np.stack([c[:, :, ::-1] for c in _decode(z["ref_jpeg"], z["ref_jpeg_off"], cv2.IMREAD_COLOR)])
        rmasks = np.stack([_unstrip(m) for m in _decode(z["ref_masks_png"], z["ref_masks_off"], cv2.IMREAD_GRAYSCALE)])
        with ThreadPoolExecutor(threads) as ex:
            smooth = np.stack(list(ex.map(foundation_layer, crops)))
        # the illustration is inked already: an edge layer would draw lines beside its own
        edges = np.zeros(crops.shape[:3], np.uint8)
        nr = len(REGION_NAMES)
        faces = FaceSet(crops, z["face_landmarks"][:n], [str(s) for s in z["face_sources"][:n]], masks[:, :nr],
                        smooth, illustrated(crops), edges, [str(g) for g in z["face_groups"][:n]])
        return Pack(faces, masks[:, nr:nr + len(MEASURE_NAMES)], masks[:, -1], z["face_desc"][:n], refs,
                    z["ref_landmarks"], rmasks[:, :nr], [str(s) for s in z["ref_names"]],
                    [str(s) for s in z["ref_kind"]], json.loads(str(z["info_json"])))
