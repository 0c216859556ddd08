"""`livefilter eval`: run a look pack through the runtime and measure it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from livefilter.align import Aligner
from livefilter.atomic import write_text
from livefilter.blend import Blender
from livefilter.demo import save_rgb
from livefilter.looks.pack import Look
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from training.data import list_media, prepare_crops
from training.eval import metrics as M


def _style_frames(look: Look, translator, images: list[np.ndarray], tracker_or_detector, per_frame: bool):
    """(original crops, styled crops, composited frames, masks in frame space)."""
    aligner = Aligner(look.input_size, look.align_padding)
    blender = Blender(aligner.template, look.input_size)
    from livefilter.masks import LandmarkMasker

    masker = LandmarkMasker(look.input_size)
    style = np.asarray(look.style_code, np.float32) if look.style_code else None
    crops, styled, frames, masks = [], [], [], []
    for img in images:
        faces = tracker_or_detector.update(img) if per_frame else tracker_or_detector.detect(img)
        if not faces:
            continue
        mats = aligner.transforms(faces[:1])
        c = aligner.warp(img, mats)
        s = translator(c, style, np.full(1, look.default_strength, np.float32)).copy()
        out = img.copy()
        # the runtime's mask: landmark face oval with occluders cut out (ellipse without landmarks)
        mask = masker.face(faces[0].landmarks, mats[0], 0, c[0]) if faces[0].landmarks is not None else blender.mask
        blender.blend(out, c, s, mats, np.ones(1, np.float32), [mask])
        inv = cv2.invertAffineTransform(mats[0])
        masks.append(cv2.warpAffine(mask, inv, img.shape[1::-1]))
        crops.append(c[0])
        styled.append(s[0])
        frames.append(out)
    return crops, styled, frames, masks


def evaluate_look_pack(look: Look, faces: Path | None = None, video: Path | None = None, refs: Path | None = None,
                       output: Path = Path("eval_report.json")) -> dict:
    from livefilter.detect import TrackerConfig, create_detector, create_tracker
    from training.looks_from_run import feature_embedder

    translator = OnnxRuntimeTranslator(look)
    report: dict = {"look": look.name}
    grid_rows = []
    if faces is not None:
        images = [cv2.imread(str(p))[:, :, ::-1].copy() for p in list_media([faces])[:40]
                  if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        crops, styled, frames, masks = _style_frames(look, translator, images, create_detector(), False)
        if not crops:
            from livefilter.errors import InputError

            raise InputError(f"no faces found in {faces}")
        report["identity_similarity"] = round(M.identity_similarity(feature_embedder(), np.stack(crops), np.stack(styled)), 4)
        report["seam_ratio"] = round(float(np.nanmean([M.seam_ratio(f, m) for f, m in zip(frames, masks)])), 3)
        report["seam_ratio_input"] = round(float(np.nanmean([M.seam_ratio(i, m) for i, m in zip(images, masks)])), 3)
        report["faces"] = len(crops)
        if refs is not None:
            aligner = Aligner(look.input_size, look.align_padding)
            ref_crops = prepare_crops([refs], aligner).crops
            mask = Blender(aligner.template, look.input_size).mask
            report["style_distance"] = round(M.style_distance(np.stack(styled), ref_crops, mask), 3)
            report["style_distance_before"] = round(M.style_distance(np.stack(crops), ref_crops, mask), 3)
        grid_rows += [np.concatenate(crops[:6], 1), np.concatenate(styled[:6], 1)]
    if video is not None:
        import av

        with av.open(str(video)) as c:
            frames_in = [f.to_ndarray(format="rgb24") for _, f in zip(range(60), c.decode(video=0))]
        tracker = create_tracker(TrackerConfig(fps=30))
        _, _, out_frames, masks = _style_frames(look, translator, frames_in, tracker, True)
        n = len(out_frames)
        region = np.clip(np.mean(masks, 0), 0, 1) if masks else None
        report["flicker_ratio"] = round(M.flicker_ratio(frames_in[:n], out_frames, region), 3)
        report["video_frames"] = n
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text(output, json.dumps(report, indent=2) + "\n")
    if grid_rows:
        w = min(r.shape[1] for r in grid_rows)
        save_rgb(output.with_suffix(".png"), np.concatenate([r[:, :w] for r in grid_rows], 0))
    return report
