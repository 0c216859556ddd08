"""Measure look sets side by side on held-out faces: created looks without finetune, family looks, teacher.

    python -m training.teacher.measure --run runs/teacher --set shipped=livefilter/looks \\
        --set renderer=runs/renderer-arm/looks --set teacher-student=runs/teacher/looks --out docs/teacher

For every look set (published packs, run through the runtime's onnxruntime translator and face-oval
composite, ``training.eval.look_effect``) and for the teacher itself (torch, conditioned on the code and
the reference photos): looks created from two reference folders the way ``livefilter looks create``
encodes them (no ``--finetune``), and the family's looks; per look the lips / lids / cheeks distance to
the references after over before, skin |ΔL| per skin-tone group and FaceNet same-person rate. Writes
``teacher_measures.json`` and pictures of a created look and of ``glam`` (inputs | each set | teacher).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from livefilter.align.host import Aligner
from livefilter.composite.masks import LandmarkMasker, head_masker
from livefilter.composite.regions import batch_regions
from livefilter.looks.code import LookCode
from livefilter.looks.create import CREATE_RECIPE
from livefilter.looks.pack import load_look
from livefilter.looks.region_stats import descriptors_of, encode_descriptors, robust_mean
from training.data import prepare_crops
from training.eval import identity
from training.eval.look_effect import apply_look
from training.eval.regions import face_change, reference_distance, summarise
from training.eval.report import fidelity
from training.makeup.dataset import split
from training.makeup.prepare import faces_file, read_faces
from training.makeup.publish import CPU_SIZE, resize_faces

log = logging.getLogger(__name__)
CREATED = {"honlan": "makeup_beautygan_honlan/makeup", "ybeauty": "makeup_ybeauty/makeup"}
PICTURES = {"honlan": "created_honlan.jpg", "family:glam": "family_glam.jpg", "family:toon": "family_toon.jpg"}


def _metrics(before: np.ndarray, after: np.ndarray, marks: np.ndarray, ref: dict, e0: np.ndarray | None) -> dict:
    ch = [face_change(b, a, p) for b, a, p in zip(before, after, marks)]
    res = summarise(ch)
    res["reference_distance_before"] = reference_distance([c.before for c in ch], ref)
    res["reference_distance_after"] = reference_distance([c.after for c in ch], ref)
    if e0 is not None:
        res["identity"] = identity.compare(e0, identity.embed(after))
    return {"fidelity": fidelity(res), "distance_before": res["reference_distance_before"],
            "distance_after": res["reference_distance_after"], "skin_abs_delta_l": res["skin"]["abs_delta_l"],
            "skin_tone": {g: res["skin_tone"][g] for g in ("lighter", "darker")},
            "skin_ita": res["skin_tone"].get("ita", {}), "identity": res.get("identity")}


class TeacherStyler:
    """The teacher generator on aligned crops, conditioned on a code and reference photos, composited
    under the runtime's mask like a look pack (the face oval; the head for a stylised code)."""

    def __init__(self, run: Path) -> None:
        from training.checkpoint import load_checkpoint, read_checkpoint
        from training.teacher.model import TeacherConfig, TeacherG

        ck = run / "teacher.safetensors"
        _, info = read_checkpoint(ck)
        self.G = TeacherG(TeacherConfig(**info["meta"]["config"]["teacher"])).eval()
        load_checkpoint(ck, {"teacher": self.G}, restore_rng=False)

    @torch.no_grad()
    def __call__(self, crops: np.ndarray, marks: np.ndarray, code: np.ndarray, ref_crops: np.ndarray,
                 ref_marks: np.ndarray, strength: float = 1.0) -> np.ndarray:
        t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float().div(127.5).sub(1)  # noqa: E731
        refs = torch.nn.functional.interpolate(t(ref_crops), size=(128, 128), mode="area")
        rmask = torch.from_numpy(batch_regions(ref_marks * 128 / ref_crops.shape[1], 128)[0])
        emb = self.G.refs(refs, rmask).mean(0, keepdim=True) if len(ref_crops) else torch.zeros(1, self.G.cfg.ref_dim)
        has = torch.ones(1, 1) if len(ref_crops) else torch.zeros(1, 1)
        cond = self.G.condition(torch.from_numpy(code)[None].float(), emb, has)
        # a stylised code lands on the head, as its published pack does (composite: head)
        stylised = LookCode.from_vector(np.asarray(code, np.float32)).paint > 0
        masker = head_masker(crops.shape[1]) if stylised else LandmarkMasker(crops.shape[1])
        eye = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
        out = np.empty_like(crops)
        for i in range(0, len(crops), 8):
            x = t(crops[i:i + 8])
            y = ((self.G(x, cond.expand(len(x), -1)) + 1) * 127.5).permute(0, 2, 3, 1).numpy()
            for j in range(len(x)):
                m = masker.face(marks[i + j], eye, 0, crops[i + j])[..., None]
                out[i + j] = np.clip(crops[i + j] + strength * m * (y[j] - crops[i + j]), 0, 255).round().astype(np.uint8)
        return out


def renderer_styled(fs, marks: np.ndarray):
    """The makeup renderer itself (the family's pseudo-paired target) on the faces, at 256 then to 128 px,
    under the same face-oval composite: what a perfect renderer-distilled student would reach."""
    from training.makeup.render import render

    t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float().div(255)  # noqa: E731
    crops, _ = resize_faces(fs, CPU_SIZE)
    masker, eye = LandmarkMasker(CPU_SIZE), np.array([[1, 0, 0], [0, 1, 0]], np.float64)

    def apply(code: np.ndarray, strength: float) -> np.ndarray:
        c = torch.from_numpy(np.stack([code] * len(fs))).float()
        with torch.no_grad():
            y = render(t(fs.crops), torch.from_numpy(fs.masks).float().div(255), c, t(fs.smooth), t(fs.painted),
                       torch.from_numpy(fs.edges).float().div(255)[:, None])
        y = (y.permute(0, 2, 3, 1).numpy() * 255).astype(np.float32)
        out = np.empty_like(crops)
        for i, img in enumerate(y):
            small = cv2.resize(img, (CPU_SIZE, CPU_SIZE), interpolation=cv2.INTER_AREA)
            m = masker.face(marks[i], eye, 0, crops[i])[..., None]
            out[i] = np.clip(crops[i] + strength * m * (small - crops[i]), 0, 255).round().astype(np.uint8)
        return out

    return apply


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/teacher"), help="teacher run (family.json, faces, checkpoint)")
    ap.add_argument("--set", action="append", default=[], help="NAME=LOOKS_DIR (published packs)")
    ap.add_argument("--faces", type=int, default=48, help="held-out faces measured")
    ap.add_argument("--out", type=Path, default=Path("docs/teacher"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    info = json.loads((args.run / "family.json").read_text())
    data = Path(info["data_root"]) / "faces"
    _, evl = split(read_faces(faces_file(args.run, info["size"])))
    idx = np.linspace(0, len(evl) - 1, min(args.faces, len(evl))).round().astype(int)
    crops, marks = resize_faces(evl.subset(idx), CPU_SIZE)
    e0 = identity.embed(crops) if identity.available() else None
    baseline = info["baseline"]
    refsets = {}
    for name, rel in CREATED.items():
        cs = prepare_crops([data / rel], Aligner(256, 0.25), args.run / "cache")
        desc = robust_mean(descriptors_of(cs.crops, cs.landmarks))
        refsets[name] = (encode_descriptors(desc, baseline, CREATE_RECIPE), desc, cs.crops, cs.landmarks)
    names = dict(zip(info["makeup_reference_names"], info["makeup_reference_descriptors"]))
    mk = prepare_crops(sorted(data.glob("makeup_*/makeup")), Aligner(256, 0.25), args.run / "cache")
    style = prepare_crops([data / "dualstylegan_style_refs"], Aligner(256, 0.25), args.run / "cache")
    for look, spec in info["looks"].items():
        if spec["reference_kind"] != "makeup":  # toon: skin and identity are what count
            desc = robust_mean(descriptors_of(style.crops, style.landmarks))
            refsets[f"family:{look}"] = (LookCode(**spec["code"]), desc, style.crops, style.landmarks)
            continue
        keep = [i for i, s in enumerate(mk.sources) if s in set(spec["references"])]
        desc = robust_mean([names[n] for n in spec["references"] if n in names])
        refsets[f"family:{look}"] = (LookCode(**spec["code"]), desc, mk.crops[keep], mk.landmarks[keep])
    sets = dict(item.split("=", 1) for item in args.set)
    report: dict = {"faces": len(crops), "eval": "held-out split of the run (whole folders + hashed sixth)",
                    "created_recipe": "livefilter looks create (CREATE_RECIPE), no --finetune", "sets": {}}
    pictures: dict[str, dict[str, np.ndarray]] = {k: {} for k in PICTURES}
    show = [0, len(crops) // 3, 2 * len(crops) // 3, len(crops) - 1]
    for set_name, folder in sets.items():
        report["sets"][set_name] = {}
        for look_name, (code, desc, _, _) in refsets.items():
            pack = load_look(Path(folder) / (look_name.split(":")[1] if ":" in look_name else "glam"))
            strength = pack.default_strength if ":" in look_name else 1.0  # a created look wears strength 1
            after = apply_look(pack, crops, marks, strength=strength, code=code.vector())
            report["sets"][set_name][look_name] = _metrics(crops, after, marks, desc, e0)
            if look_name in pictures:
                pictures[look_name][set_name] = after[show]
            log.info("%s %s %s", set_name, look_name, report["sets"][set_name][look_name]["fidelity"])
    rend = renderer_styled(evl.subset(idx), marks)
    report["sets"]["renderer-itself"] = {}
    for look_name, (code, desc, _, _) in refsets.items():
        strength = info["looks"][look_name[7:]]["default_strength"] if ":" in look_name else 1.0
        after = rend(code.vector(), strength)
        report["sets"]["renderer-itself"][look_name] = _metrics(crops, after, marks, desc, e0)
        log.info("renderer %s %s", look_name, report["sets"]["renderer-itself"][look_name]["fidelity"])
    if (args.run / "teacher.safetensors").is_file():
        styler = TeacherStyler(args.run)
        report["sets"]["teacher"] = {}
        for look_name, (code, desc, rc, rl) in refsets.items():
            strength = info["looks"][look_name[7:]]["default_strength"] if ":" in look_name else 1.0
            after = styler(crops, marks, code.vector(), rc, rl, strength)
            report["sets"]["teacher"][look_name] = _metrics(crops, after, marks, desc, e0)
            if look_name in pictures:
                pictures[look_name]["teacher"] = after[show]
            log.info("teacher %s %s", look_name, report["sets"]["teacher"][look_name]["fidelity"])
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "teacher_measures.json.tmp"
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(args.out / "teacher_measures.json")
    for look_name, file in PICTURES.items():
        _picture(args.out / file, [("input", crops[show])] + list(pictures[look_name].items()))


def _picture(path: Path, rows: list[tuple[str, np.ndarray]]) -> None:
    grid = []
    for label, imgs in rows:
        strip = np.concatenate([cv2.resize(c, (160, 160), interpolation=cv2.INTER_AREA) for c in imgs], 1)
        head = np.full((22, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(head, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA)
        grid.append(np.concatenate([head, strip]))
    ok, jpg = cv2.imencode(".jpg", np.concatenate(grid)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(jpg.tobytes())
    tmp.replace(path)


if __name__ == "__main__":
    main()
