"""Prepare a look-family run: faces, split, plain baseline, reference descriptors and the family's codes.

Everything a run needs is measured once and written to the run folder (``faces-<size>.npz`` and
``family.json``), so training, export and evaluation read the same numbers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livefilter.align.host import Aligner
from livefilter.looks.code import LookCode
from livefilter.looks.region_stats import descriptors_of, robust_mean
from training.data import prepare_crops
from training.makeup.dataset import FaceSet, load_faces, split
from training.makeup.family import FAMILY, LookDef, encode_look

log = logging.getLogger(__name__)

MAKEUP_REFS = "makeup_*/makeup"
STYLE_REFS = "dualstylegan_style_refs"


@dataclass
class References:
    crops: np.ndarray
    landmarks: np.ndarray
    names: list[str]
    descriptors: list[dict[str, float]]


def load_references(data_root: Path, kind: str, cache: Path, size: int = 256) -> References:
    faces = data_root / "faces"
    paths = sorted(faces.glob(MAKEUP_REFS)) if kind == "makeup" else [faces / STYLE_REFS]
    cs = prepare_crops(paths, Aligner(size, 0.25), cache)
    keep = [i for i, s in enumerate(cs.sources) if s not in cs.sources[:i]]  # same photo in two folders
    crops, marks = cs.crops[keep], cs.landmarks[keep]
    return References(crops, marks, [cs.sources[i] for i in keep], descriptors_of(crops, marks))


def faces_file(run: Path, size: int) -> Path:
    return run / f"faces-{size}.npz"


def save_faces(fs: FaceSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, crops=fs.crops, landmarks=fs.landmarks, sources=np.array(fs.sources), masks=fs.masks,
             smooth=fs.smooth, painted=fs.painted, edges=fs.edges, groups=np.array(fs.skin_groups))
    tmp.replace(path)


def read_faces(path: Path) -> FaceSet:
    with np.load(path, allow_pickle=False) as z:
        return FaceSet(z["crops"], z["landmarks"], [str(s) for s in z["sources"]], z["masks"], z["smooth"],
                       z["painted"], z["edges"], [str(g) for g in z["groups"]])


def prepare_run(data_root: Path, run: Path, size: int = 256, looks: tuple[LookDef, ...] = FAMILY,
                progress=None) -> dict:
    """Measure everything a family run needs; idempotent (reuses the run's files)."""
    run.mkdir(parents=True, exist_ok=True)
    cache = run / "cache"
    ff = faces_file(run, size)
    if not ff.is_file():
        save_faces(load_faces(data_root, size, cache, progress=progress), ff)
    train, evl = split(read_faces(ff))
    baseline = robust_mean(descriptors_of(train.crops, train.landmarks))
    refs = {k: load_references(data_root, k, cache, size) for k in ("makeup", "style")}
    family = {}
    for d in looks:
        r = refs[d.refs]
        code, idx = encode_look(d, r.descriptors, baseline)
        family[d.name] = {"code": code.to_dict(), "references": [r.names[i] for i in idx], "reference_kind": d.refs,
                          "title": d.title, "description": d.description, "default_strength": d.default_strength,
                          "regions": code.regions()}
    info = {
        "size": size, "data_root": str(data_root.resolve()), "baseline": baseline, "looks": family,
        "train_faces": len(train), "eval_faces": len(evl),
        "eval_sources": evl.sources, "eval_skin_groups": evl.skin_groups,
        "makeup_reference_descriptors": refs["makeup"].descriptors,
        "makeup_reference_names": refs["makeup"].names,
    }
    (run / "family.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def family_codes(info: dict) -> dict[str, LookCode]:
    return {name: LookCode(**v["code"]) for name, v in info["looks"].items()}
