"""`livefilter eval`: run a look pack through the runtime and measure what it does.

Per look: lips / eyelids / cheeks / brows / skin mean ΔE and ΔL (CIELAB, FaceMesh regions), skin
lightness change split by skin tone (ITA°), the distance of the output's region colours to the
references' (before and after), identity by a real face recogniser (FaceNet), flicker on a video
with the runtime's temporal blending on, and the seam at the composite's edge.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from livefilter.align.host import Aligner
from livefilter.infra.atomic import write_text
from livefilter.demo.clip import save_rgb
from livefilter.errors import InputError
from livefilter.looks.pack import Look
from livefilter.looks.region_stats import descriptors_of, robust_mean
from training.data import prepare_crops
from training.eval.look_effect import measure

MAX_FACES = 60


def reference_descriptors(refs: Path, size: int = 256) -> dict[str, float]:
    cs = prepare_crops([refs], Aligner(size, 0.25))
    return robust_mean(descriptors_of(cs.crops, cs.landmarks))


def created_references(look: Look) -> dict[str, float] | None:
    """A created look's own references: the photos' robust-mean region descriptors kept in its look.json."""
    ref = look.training.get("reference_descriptors") if look.training.get("created_from") else None
    if not isinstance(ref, dict) or not all(isinstance(v, (int, float)) for v in ref.values()):
        return None
    return {str(k): float(v) for k, v in ref.items()}


def fidelity(metrics: dict) -> dict:
    """Does the look move faces towards its references? (lips distance at least halved against the unstyled
    input, skin lightness kept, the same person) -- the targets of ``looks create``."""
    before, after = metrics["reference_distance_before"], metrics["reference_distance_after"]
    out: dict = {}
    for region in before:
        if np.isfinite(before[region]) and np.isfinite(after[region]) and before[region] > 0:
            out[f"{region}_distance_ratio"] = round(after[region] / before[region], 3)
    out["lips_halved"] = bool(out.get("lips_distance_ratio", 1.0) <= 0.5)
    out["skin_tone_kept"] = bool(metrics["skin"]["abs_delta_l"] <= 3.0)
    if metrics.get("identity", {}).get("measured"):
        out["same_person"] = bool(metrics["identity"]["same_person_rate"] >= 0.99)
    return out


def video_quality(look: Look, video: Path, frames: int = 90) -> dict:
    """Flicker and seam on a real video through the full pipeline, temporal blending on (as ``run``)."""
    from training.eval.stability import measure as stability

    return stability(video, str(look.root), {"smoothing": True, "temporal": 0.5}, frames=frames)


def evaluate_look_pack(look: Look, faces: Path | None = None, video: Path | None = None, refs: Path | None = None,
                       output: Path = Path("eval_report.json"), strength: float | None = None) -> dict:
    report: dict = {"look": look.name, "description": look.description, "declared_regions": look.regions}
    if faces is not None:
        cs = prepare_crops([faces], Aligner(look.input_size, look.align_padding), max_faces_per_image=1)
        if not len(cs):
            raise InputError(f"no faces found in {faces}")
        crops, marks = cs.crops[:MAX_FACES], cs.landmarks[:MAX_FACES]
        ref_desc = reference_descriptors(refs) if refs is not None else created_references(look)
        metrics, after = measure(look, crops, marks, ref_desc, strength)
        report |= metrics
        if ref_desc is not None:
            report["fidelity"] = fidelity(metrics)
        n = min(6, len(crops))
        grid = np.concatenate([np.concatenate(list(crops[:n]), 1), np.concatenate(list(after[:n]), 1)], 0)
        save_rgb(output.with_suffix(".png"), grid)
    if video is not None:
        report["video"] = video_quality(look, video)
    if faces is not None or video is not None:
        report["placement"] = placement_report(look, faces, video)
        report["finish"] = finish_report(faces, video)
    write_text(output, json.dumps(report, indent=2) + "\n")
    return report


def placement_report(look: Look, faces: Path | None, video: Path | None, frames: int = 60) -> dict:
    """Where the makeup lands, at full frame resolution (``training.eval.placement``): the photos of ``faces``
    (one face a frame, and four in 2x2 mosaics) and the first ``frames`` of ``video``, at the CPU and GPU
    input sizes, with the targets each summary meets."""
    from training.eval import placement

    photos = placement.read_photos(_photo_paths(faces)[:MAX_FACES]) if faces is not None else []
    clip = placement.read_video(video, frames) if video is not None else None
    sizes = ("cpu", "gpu") if look.device_input_size and look.device_input_size != look.input_size else ("cpu",)
    rate = placement.video_rate(video) if video is not None else placement.VIDEO_FPS
    return placement.measure_look(look, photos, clip, sizes=sizes, video_fps=rate)


def finish_report(faces: Path | None, video: Path | None, frames: int = 60) -> dict:
    """The skin finish at strengths 0.5 and 1 (``training.eval.finish``): the photos of ``faces`` (texture,
    skin colour, features and beard kept, seam, identity, per skin-tone group) and the flicker of the first
    ``frames`` of ``video``."""
    from training.eval import finish, placement

    out: dict = {}
    if faces is not None:
        out["photos"] = finish.measure_photos(placement.read_photos(_photo_paths(faces)[:MAX_FACES]))
    if video is not None:
        out["video"] = finish.measure_video(placement.read_video(video, frames))
    return out


def _photo_paths(folder: Path) -> list[Path]:
    from training.data import IMAGE_SUFFIXES

    folder = Path(folder)
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
