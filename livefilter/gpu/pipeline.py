"""The device pipeline: one upload, every pixel stage on the device, one download.

Per frame, on two CUDA streams and two threads (``Pipeline.run`` with ``overlap``):

* face stream (worker thread, frame N+1): the pinned host frame is uploaded once (a frame decoded
  on the device is copied device-to-device instead) into the next of two frame buffers; BlazeFace's
  letterbox, FaceMesh's ROI crops and both networks run on that upload when the tracker is the
  device one (:mod:`livefilter.gpu.face_stage`); only landmarks come back to the host. The occluder
  skin model also runs here, off the styling thread.
* compute stream (main thread, frame N): waits for the upload's event, then aligned-crop warp for
  all faces (one ``grid_sample``), translator (a CUDA graph replay or the TensorRT engine), temporal
  blending, colour edits, face masks, inverse warp and composite over the faces' rectangle (one
  ``grid_sample``), pixel-format conversion, and the one download into pinned memory, the only
  host wait. Small per-frame arrays reach the device through pinned staging
  (:mod:`livefilter.gpu.staging`), never through a stream-blocking copy.

Stage times on CUDA come from events recorded around each stage (:mod:`livefilter.gpu.timing`),
read after that one wait.
"""

from __future__ import annotations

import logging
import threading
import weakref
from contextlib import nullcontext
from typing import NamedTuple

import numpy as np

from livefilter.errors import SettingError
from livefilter.gpu.compositor import DeviceCompositor, affine_to_theta, invert_affines
from livefilter.gpu.frames import DeviceFrameBuffer, is_device_tensor
from livefilter.gpu.masks import oval_masks
from livefilter.gpu.timing import DeviceStageClock
from livefilter.masks import FACE_OVAL, LandmarkMasker, occluded_pixels
from livefilter.pipeline import LookRuntime, Pipeline
from livefilter.types import Face

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("RGB", "I420", "NV12")
_OVAL = list(FACE_OVAL)
_NO_LANDMARKS = np.zeros((468, 2), np.float32)  # faces without dense landmarks (their mask is the ellipse)


class _Staged(NamedTuple):
    """A frame uploaded by the face stage, waiting for the styling stages."""

    image: weakref.ref
    buffer: DeviceFrameBuffer
    occluders: dict  # (look name, track id) -> (S, S) bool


class DevicePipeline(Pipeline):
    """A :class:`Pipeline` whose pixel stages run on a torch device (CUDA; the CPU device in tests).

    ``device_frame`` is the :class:`~livefilter.gpu.face_stage.DeviceFrame` of a device tracker,
    which then reads the uploaded frame instead of the host one. ``output_format`` I420 / NV12
    converts on the device and downloads the planar frame (half the bytes of RGB) for sinks that
    want it. ``fuse`` (default: on CUDA) compiles the frame-sized pixel-format conversion into a
    single kernel (:mod:`livefilter.gpu.fused`).
    """

    # outputs are views of the pinned download buffers, overwritten two frames later
    reuses_output_buffers = True

    def __init__(self, *args, device: str = "cuda", device_frame=None, output_format: str = "RGB",
                 fuse: bool | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import torch

        if output_format not in OUTPUT_FORMATS:
            raise SettingError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
        self.output_format = output_format
        self.device = torch.device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        # fused pixel-format conversion: on CUDA by default (Triton); on the CPU only when asked for
        self.fuse = self.device.type == "cuda" if fuse is None else bool(fuse)
        cuda = self.device.type == "cuda"
        self._face_stream = torch.cuda.Stream() if cuda else None  # upload + face stage
        self._compute_stream = torch.cuda.Stream() if cuda else None  # styling stages + download
        self._device_frame = device_frame
        self._buffers: dict[tuple[int, int], list[DeviceFrameBuffer]] = {}
        self._flips: dict[tuple[int, int], int] = {}
        self._comps: dict[tuple[int, int, int], DeviceCompositor] = {}
        self._staged: dict[int, _Staged] = {}
        self._staged_lock = threading.Lock()  # the face thread stages, the styling thread takes
        self._occ_maskers: dict[int, LandmarkMasker] = {}  # the face thread's own (region buffers)
        self._dev_history: dict = {}
        self._occ_crops: np.ndarray | None = None  # the face thread's own crop buffer
        self.clock = DeviceStageClock(self.stats, cuda)

    # -- face stream (worker thread) ------------------------------------------------------------
    def _stream(self, stream):
        import torch

        return torch.cuda.stream(stream) if stream is not None else nullcontext()

    def _next_buffer(self, h: int, w: int) -> DeviceFrameBuffer:
        with self._staged_lock:
            pair = self._buffers.get((h, w))
            if pair is None:  # allocated once per resolution, never per frame
                pair = [DeviceFrameBuffer(h, w, self.device, self.dtype) for _ in range(2)]
                self._buffers[(h, w)] = pair
                self._flips[(h, w)] = 0
            self._flips[(h, w)] ^= 1
            return pair[self._flips[(h, w)]]

    def _stage(self, image) -> _Staged:
        """Upload ``image`` into the next frame buffer on the face stream and remember it."""
        h, w = int(image.shape[0]), int(image.shape[1])
        buf = self._next_buffer(h, w)
        with self._stream(self._face_stream), self.stats.time("upload"):
            buf.load(image, self._face_stream)
        staged = _Staged(weakref.ref(image), buf, {})
        with self._staged_lock:
            for key in [k for k, s in self._staged.items() if s.image() is None]:
                del self._staged[key]  # frames that were never styled (paused, no face, dropped)
            self._staged[id(image)] = staged
        if self._device_frame is not None:
            self._device_frame.tensor = buf.frame_f
        return staged

    def _take_staged(self, image) -> _Staged:
        """The upload the face stage made of ``image`` (made now when the face stage did not run)."""
        with self._staged_lock:
            staged = self._staged.pop(id(image), None)
        if staged is not None and staged.image() is image:
            return staged
        staged = self._stage(image)
        with self._staged_lock:
            self._staged.pop(id(image), None)
        return staged

    def track(self, image) -> list[Face] | BaseException:
        """Upload, then the face stage on the face stream; occluders of the found faces as well."""
        try:
            staged = self._stage(image)
        except Exception as e:  # handed to process(), which applies the failure policy
            return e
        with self._stream(self._face_stream):
            faces = super().track(image)
            if isinstance(faces, list) and faces:
                try:
                    self._find_occluders(image, staged, faces)
                except Exception as e:  # occluders are a refinement: style without them
                    self._log_once(f"occluders:{type(e).__name__}", e)
        return faces

    def _find_occluders(self, image, staged: _Staged, faces: list[Face]) -> None:
        """Occluded pixels (hands, masks) of each tracked face, for the look that is live now.

        The skin model needs the aligned crop on the host: a cheap OpenCV warp of the host frame,
        or, for a frame decoded on the device, the (S, S) crops warped there and read back (on the
        face stream, so the styling stream never waits for it).
        """
        rt = self.runtime(self._controls.look)
        todo = [f for f in faces[: self.max_faces] if f.landmarks is not None and f.track_id >= 0]
        if not todo:
            return
        mats = rt.aligner.transforms(todo)
        s = rt.look.input_size
        if self._occ_crops is None or self._occ_crops.shape[0] < len(todo) or self._occ_crops.shape[1] != s:
            self._occ_crops = np.empty((self.max_faces, s, s, 3), np.uint8)
        crops = self._occ_crops[: len(todo)]
        if is_device_tensor(image):
            crops[...] = self._device_crops(staged.buffer, mats, s)
        else:
            rt.aligner.warp(image, mats, out=crops)
        masker = self._occ_maskers.get(s)
        if masker is None:
            masker = self._occ_maskers[s] = LandmarkMasker(s)
        for i, (f, m) in enumerate(zip(todo, mats)):
            pts = f.landmarks @ m[:, :2].T + m[:, 2]
            staged.occluders[(rt.look.name, f.track_id)] = occluded_pixels(crops[i], pts, masker)

    def _device_crops(self, buf: DeviceFrameBuffer, mats: np.ndarray, size: int) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        theta = torch.from_numpy(affine_to_theta(invert_affines(mats), (buf.h, buf.w), (size, size)))
        grid = F.affine_grid(theta.to(self.device, buf.frame_f.dtype), (len(mats), 3, size, size), align_corners=False)
        crops = F.grid_sample(buf.frame_f.expand(len(mats), -1, -1, -1), grid, mode="bilinear",
                              padding_mode="reflection", align_corners=False)
        return crops.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    # -- compute stream (main thread) -------------------------------------------------------------
    def process(self, image, faces=None):
        out = super().process(image, faces)
        if is_device_tensor(out):  # nothing styled (no face, paused, a failure): still one download
            out = self._download_frame(self._take_staged(image))
        else:
            self._drop_staged(image)  # a host frame passed through unstyled: its upload is stale now
        return out

    def _drop_staged(self, image) -> None:
        """Forget the upload of ``image``: a caller may refill the same array for its next frame."""
        with self._staged_lock:
            staged = self._staged.get(id(image))
            if staged is not None and staged.image() is image:
                del self._staged[id(image)]

    def _download_frame(self, staged: _Staged) -> np.ndarray:
        """The unstyled frame of ``staged``, downloaded (a view of its pinned buffer)."""
        buf = staged.buffer
        with self._stream(self._compute_stream):
            if self._compute_stream is not None:
                self._compute_stream.wait_event(buf.ready)
            return buf.download(buf.frame, self._compute_stream)

    def _compositor(self, h: int, w: int, rt: LookRuntime) -> DeviceCompositor:
        key = (h, w, rt.look.input_size)
        comp = self._comps.get(key)
        if comp is None:  # allocated once per resolution and crop size, never per frame
            comp = DeviceCompositor(h, w, rt.look.input_size, rt.blender.mask, self.max_faces, str(self.device),
                                    self.dtype, frame_buffers=False, fuse=self.fuse)
            self._comps[key] = comp
        return comp

    def _smooth_device(self, faces: list[Face], styled):
        """Temporal blending in face-aligned space on the device (the CPU path's ``_smooth``)."""
        import torch

        a = self.temporal
        live = set()
        rows = []
        for i, f in enumerate(faces):  # per face (a handful), never per pixel
            cur = styled[i]
            prev = self._dev_history.get(f.track_id) if f.track_id >= 0 else None
            if prev is not None and prev.shape == cur.shape:
                cur = prev * a + cur * (1.0 - a)
            else:
                cur = cur.clone()  # the translator's output buffer is overwritten on its next call
            if f.track_id >= 0:
                self._dev_history[f.track_id] = cur
                live.add(f.track_id)
            rows.append(cur)
        for tid in [t for t in self._dev_history if t not in live]:
            del self._dev_history[tid]
        return torch.stack(rows)

    def _occlusion(self, staged: _Staged, image, faces: list[Face], mats, crop_pts, rt: LookRuntime):
        """(N, S, S) bool occluder masks: from the face stage, else computed now (host frames)."""
        s = rt.look.input_size
        occluded = np.zeros((len(faces), s, s), bool)
        for i, f in enumerate(faces):
            if f.landmarks is None:
                continue
            found = staged.occluders.get((rt.look.name, f.track_id))
            if found is None and not is_device_tensor(image):
                crop = rt.aligner.warp(image, mats[i:i + 1], out=rt.crops[i:i + 1])[0]
                found = occluded_pixels(crop, crop_pts[i], rt.masker)
            if found is not None:
                occluded[i] = found
        return occluded

    def _style(self, image, faces, rt, controls, strength, stage):
        """Device version of align -> translate -> blend -> convert; returns the host frame."""
        import torch

        if not hasattr(rt.translator, "translate_tensor"):  # e.g. TensorRT / onnxruntime: host path
            host = self._download_frame(self._take_staged(image)) if is_device_tensor(image) else image
            return super()._style(host, faces, rt, controls, strength, stage)
        stage[0] = "device"
        staged = self._take_staged(image)
        buf = staged.buffer
        h, w = buf.h, buf.w
        comp = self._compositor(h, w, rt)
        comp.bind(buf.frame_f, buf.frame)
        n = len(faces)
        mats = rt.aligner.transforms(faces)
        have = np.array([f.landmarks is not None for f in faces])
        landmarks = np.stack([f.landmarks if f.landmarks is not None else _NO_LANDMARKS for f in faces])
        crop_pts = np.einsum("nij,nkj->nik", landmarks, mats[:, :, :2]) + mats[:, None, :, 2]  # all faces at once
        occluded = self._occlusion(staged, image, faces, mats, crop_pts, rt)
        strength = np.broadcast_to(np.asarray(strength, np.float32), (n,))
        clock = self.clock
        params = comp.params  # small per-frame arrays: pinned memory, asynchronous copies
        with self._stream(self._compute_stream):
            if self._compute_stream is not None:
                self._compute_stream.wait_event(buf.ready)
            params.begin()
            oval = params.put(crop_pts[:, _OVAL])
            strength_d = params.put(strength)
            style_d = params.put(rt.style) if rt.style is not None else None
            occluded_d = params.put(occluded) if occluded.any() else None
            have_d = params.put(have) if not have.all() else None
            with clock.time("align"):
                crops = comp.warp(mats)
            with clock.time("translate"):
                styled = rt.translator.translate_tensor(crops, style_d, strength_d)
                if self.temporal > 0:
                    styled = self._smooth_device(faces, styled)
                styled = comp.edit(styled, controls.edits)
            with clock.time("blend"):
                m = oval_masks(oval, rt.look.input_size, rt.masker.feather_px / rt.look.input_size, comp.dtype)
                if occluded_d is not None:
                    occ = occluded_d.to(comp.dtype).unsqueeze(1)
                    k = max(3, int(rt.masker.feather_px) | 1)  # soft edge around the occluder
                    occ = torch.nn.functional.max_pool2d(occ, 3, 1, 1)
                    occ = torch.nn.functional.avg_pool2d(occ, k, 1, k // 2, count_include_pad=False)
                    m = m * (1.0 - occ.clamp(0, 1))
                if have_d is not None:  # faces without dense landmarks use the template ellipse
                    m = torch.where(have_d.view(-1, 1, 1, 1), m, comp.mask.expand(n, -1, -1, -1))
                alphas = np.ones(n, np.float32) if rt.strength_in_network else strength
                result = comp.blend(styled.to(comp.dtype), crops, mats, alphas, m)
                if self.output_format != "RGB":
                    result = comp.to_pixel_format(self.output_format)
            params.end(self._compute_stream)
            if self._compute_stream is not None:
                buf.released.record(self._compute_stream)  # the face stream may now reuse this buffer
            host = buf.download(result, self._compute_stream)  # the one host wait per frame
        clock.flush()
        if self.output_format == "RGB" and not is_device_tensor(image):
            np.copyto(image, host)
            return image
        return host
