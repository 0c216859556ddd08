"""The device pipeline: one upload, warp / translate / edit / blend / convert on the device, one download.

The face stage (BlazeFace + FaceMesh) runs on the CPU worker thread of :meth:`Pipeline.run`, on the
host frame that arrives anyway, one frame ahead; everything pixel-heavy runs here on the device.
Two compositor buffer sets alternate between frames (double buffering), and on CUDA the upload runs
on its own stream with an event that the compute stream waits on, so frame N+1's upload overlaps
frame N's translation and blend.
"""

from __future__ import annotations

import logging

import numpy as np

from livefilter.gpu.compositor import DeviceCompositor
from livefilter.gpu.masks import face_masks
from livefilter.masks import occluded_pixels
from livefilter.pipeline import Pipeline

log = logging.getLogger(__name__)


class DevicePipeline(Pipeline):
    """A :class:`Pipeline` whose styling stages run on a torch device (CUDA, or CPU for tests)."""

    def __init__(self, *args, device: str = "cuda", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import torch

        self.device = torch.device(device)
        self._comps: dict[tuple, list[DeviceCompositor]] = {}
        self._flip = 0
        self._dev_history: dict = {}
        cuda = self.device.type == "cuda"
        self._upload_stream = torch.cuda.Stream() if cuda else None
        self._compute_stream = torch.cuda.Stream() if cuda else None

    def _smooth_device(self, faces, styled):
        """Temporal blending in face-aligned space on the device (the CPU path's ``_smooth``)."""
        a = self.temporal
        live = set()
        rows = []
        for i, f in enumerate(faces):
            cur = styled[i]
            prev = self._dev_history.get(f.track_id) if f.track_id >= 0 else None
            if prev is not None and prev.shape == cur.shape:
                cur = prev * a + cur * (1.0 - a)
            if f.track_id >= 0:
                self._dev_history[f.track_id] = cur
                live.add(f.track_id)
            rows.append(cur)
        for tid in [t for t in self._dev_history if t not in live]:
            del self._dev_history[tid]
        import torch

        return torch.stack(rows)

    def _compositor(self, image: np.ndarray, rt) -> DeviceCompositor:
        key = (image.shape[0], image.shape[1], rt.look.input_size)
        pair = self._comps.get(key)
        if pair is None:  # allocated once per resolution and crop size, never per frame
            pair = [DeviceCompositor(image.shape[0], image.shape[1], rt.look.input_size, rt.blender.mask,
                                     self.max_faces, str(self.device)) for _ in range(2)]
            self._comps[key] = pair
        self._flip ^= 1
        return pair[self._flip]

    def _style(self, image, faces, rt, controls, strength, stage):
        """Device version of align -> translate -> blend; returns the composited host frame."""
        import torch

        if not hasattr(rt.translator, "translate_tensor"):  # e.g. TensorRT/onnxruntime: host path
            return super()._style(image, faces, rt, controls, strength, stage)
        stage[0] = "device"

        stats = self.stats
        comp = self._compositor(image, rt)
        mats = rt.aligner.transforms(faces)
        # Face-oval masks are rendered on the device for all faces at once (livefilter/gpu/masks.py).
        have = [f.landmarks is not None for f in faces]
        crop_pts = np.stack([f.landmarks @ m[:, :2].T + m[:, 2] if f.landmarks is not None else np.zeros((468, 2))
                             for f, m in zip(faces, mats)])
        # Occluders (hands, face masks): the skin model runs on a small host crop of the frame the
        # face stage already had (0.2 ms warp + 0.3 ms per face); only the (S, S) result is uploaded.
        occluded = np.zeros((len(faces), rt.look.input_size, rt.look.input_size), np.float32)
        for i, f in enumerate(faces):
            if f.landmarks is not None:
                host_crop = rt.aligner.warp(image, mats[i:i + 1], out=rt.crops[i:i + 1])[0]
                occluded[i] = occluded_pixels(host_crop, crop_pts[i], rt.masker)
        if self._upload_stream is not None:
            with torch.cuda.stream(self._upload_stream):
                comp.upload(image)
                done = torch.cuda.Event()
                done.record(self._upload_stream)
            self._compute_stream.wait_event(done)
            ctx = torch.cuda.stream(self._compute_stream)
        else:
            comp.upload(image)
            from contextlib import nullcontext

            ctx = nullcontext()
        with ctx:
            with stats.time("align"):
                crops = comp.warp(mats)
            with stats.time("translate"):
                styled = rt.translator.translate_tensor(crops, rt.style, strength)
                if self.temporal > 0:
                    styled = self._smooth_device(faces, styled)
                styled = comp.edit(styled, controls.edits)
            with stats.time("blend"):
                m = face_masks(crop_pts, rt.look.input_size, rt.masker.feather_px / rt.look.input_size,
                               str(comp.device), comp.dtype)
                if occluded.any():
                    occ = torch.from_numpy(occluded).to(comp.device, comp.dtype).unsqueeze(1)
                    k = max(3, int(rt.masker.feather_px) | 1)  # soft edge around the occluder
                    occ = torch.nn.functional.max_pool2d(occ, 3, 1, 1)
                    occ = torch.nn.functional.avg_pool2d(occ, k, 1, k // 2, count_include_pad=False)
                    m = m * (1.0 - occ.clamp(0, 1))
                if not all(have):  # faces without dense landmarks use the template ellipse
                    ell = comp.mask.expand(len(faces), -1, -1, -1)
                    sel = torch.tensor(have, device=comp.device).view(-1, 1, 1, 1)
                    m = torch.where(sel, m, ell)
                alphas = np.ones(len(faces), np.float32) if rt.strength_in_network else strength
                comp.blend(styled.to(comp.dtype), crops, mats, alphas, m)
                host = comp.download()
        if self._compute_stream is not None:
            self._compute_stream.synchronize()  # the one host sync per frame: the download
        np.copyto(image, host)
        return image
