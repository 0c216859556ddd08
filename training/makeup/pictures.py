"""Pictures of the family on held-out faces: per-look grid (light and dark skin), strength sweep, references.

``python -m training.makeup.pictures RUN LOOKS_DIR OUT_DIR`` writes ``looks_family.png``,
``looks_strength.png`` and ``looks_references.png``. Each picture is labelled, so it reads on its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from livefilter.looks.pack import load_look
from training.eval.look_effect import apply_look
from training.eval.regions import DARKER, LIGHTER
from training.makeup.dataset import split
from training.makeup.prepare import faces_file, load_references, read_faces
from training.makeup.publish import CPU_SIZE, resize_faces

TILE = 160


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.full((img.shape[0] + 22, img.shape[1], 3), 255, np.uint8)
    out[22:] = img
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def _tile(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", rgb[:, :, ::-1])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.tobytes())
    tmp.replace(path)


def pick_faces(groups: list[str], n_light: int = 3, n_dark: int = 3) -> list[int]:
    light = [i for i, g in enumerate(groups) if g in LIGHTER][:: max(1, len(groups) // 40)][:n_light]
    dark = [i for i, g in enumerate(groups) if g in DARKER][:: max(1, len(groups) // 40)][:n_dark]
    return light + dark


def family_grid(run: Path, looks_dir: Path, out: Path, names: list[str]) -> None:
    info = json.loads((run / "family.json").read_text())
    _, evl = split(read_faces(faces_file(run, info["size"])))
    crops, marks = resize_faces(evl, CPU_SIZE)
    idx = pick_faces(evl.skin_groups)
    looks = {n: load_look(looks_dir / n) for n in names}
    cols = [[_label(_tile(crops[i]), f"before ({evl.skin_groups[i]})") for i in idx]]
    for n, lk in looks.items():
        after = apply_look(lk, crops[idx], marks[idx])
        cols.append([_label(_tile(a), n) for a in after])
    _write_png(out / "looks_family.png", np.concatenate([np.concatenate(c, 0) for c in cols], 1))

    # strength sweep of glam on two faces (one lighter, one darker skin)
    lk = looks.get("glam") or next(iter(looks.values()))
    two = [idx[0], idx[-1]]
    rows = []
    for i in two:
        tiles = [_label(_tile(apply_look(lk, crops[i:i + 1], marks[i:i + 1], strength=s)[0]), f"{lk.name} {s:g}")
                 for s in (0.0, 0.5, 1.0)]
        rows.append(np.concatenate(tiles, 1))
    _write_png(out / "looks_strength.png", np.concatenate(rows, 0))

    # each makeup look beside the reference photos it learned from
    root = Path(info["data_root"])
    refs = {k: load_references(root, k, run / "cache") for k in ("makeup", "style")}
    rows = []
    for n, lk in looks.items():
        spec = info["looks"][n]
        refs_k = refs[spec["reference_kind"]]
        pick = [refs_k.names.index(r) for r in spec["references"][:3] if r in refs_k.names]
        ref_tiles = [_label(_tile(cv2.resize(refs_k.crops[j], (CPU_SIZE, CPU_SIZE), interpolation=cv2.INTER_AREA)),
                            f"{n} ref") for j in pick]
        while len(ref_tiles) < 3:
            ref_tiles.append(np.full_like(ref_tiles[0], 255))
        face = [idx[0], idx[-1]]
        styled = apply_look(lk, crops[face], marks[face])
        tiles = ref_tiles + [_label(_tile(crops[face[0]]), "before"), _label(_tile(styled[0]), n),
                             _label(_tile(crops[face[1]]), "before"), _label(_tile(styled[1]), n)]
        rows.append(np.concatenate(tiles, 1))
    _write_png(out / "looks_references.png", np.concatenate(rows, 0))


if __name__ == "__main__":
    run, looks_dir, out = (Path(a) for a in sys.argv[1:4])
    names = sys.argv[4:] or ["glam", "natural", "bold-lip", "soft-glow", "toon"]
    family_grid(run, looks_dir, out, names)
