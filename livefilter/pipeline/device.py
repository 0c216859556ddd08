"""The device pipeline: one upload, every pixel stage on the device, one download.

Per frame, on two CUDA streams and two threads (``Pipeline.run`` with ``overlap``):

* face stream (worker thread, frame N+1): the pinned host frame is uploaded once (a frame decoded
  on the device is copied device-to-device instead) into the next of two frame buffers. A device
  face stage (:class:`~livefilter.protocols.DeviceFaceStage`, :mod:`livefilter.detect.device_tracker`) is
  handed that upload as its argument: BlazeFace's letterbox, FaceMesh's ROI crops and both networks
  run on it, and only landmarks come back to the host. A host tracker reads the host frame. The occluder
  skin model also runs here, off the styling thread.
* compute stream (main thread, frame N): waits for the upload's event, then aligned-crop warp for
  all faces (one ``grid_sample``), translator (a CUDA graph replay or the TensorRT engine), temporal
  blending, then the crop-space chain (colour edits, face masks, occluders, premultiplied delta: one
  graph replay, :mod:`livefilter.composite.crop_stage`), inverse warp and composite over the faces'
  rectangle (one ``grid_sample``), pixel-format conversion, and the one download into pinned
  memory, the only host wait. Every per-frame parameter reaches the device in one asynchronous
  copy from pinned memory (:class:`~livefilter.gpu.staging.FrameParams`).

Geometry is FP32 throughout (frame, thetas, sampling grids); only the translator's input is cast
to its precision. The streams are the process's own two (:mod:`livefilter.gpu.streams`). Every
CUDA graph (translator, FaceMesh, BlazeFace, crop-space chain) is captured for every face count in
:meth:`DeviceStyling.warm_up`, before the face-stage worker starts; none on the hot path.
The output is a view of a pinned download buffer (``reuses_output_buffers``): sinks copy it.

Stage times on CUDA come from events recorded around each stage (:mod:`livefilter.gpu.timing`),
read after that one wait.
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from typing import NamedTuple

import numpy as np

from livefilter.settings.choices import DEVICE_OUTPUT_FORMATS
from livefilter.errors import SettingError
from livefilter.align.device import affine_to_theta, back_thetas, faces_region, warp_crops, warp_thetas
from livefilter.align.host import invert_affine
from livefilter.composite.device_compositor import DeviceCompositor
from livefilter.composite.crop_stage import CropStage
from livefilter.gpu.frames import DeviceFrameBuffer, is_device_tensor
from livefilter.composite.device_placement import gate_face
from livefilter.gpu.timing import DeviceStageClock
from livefilter.finish.device import DeviceSkinFinish
from livefilter.composite.masks import LandmarkMasker, occluded_pixels
from livefilter.detect.topology import FACE_OVAL, LIPS, LIPS_INNER
from livefilter.composite.placement import CHEEK_PAIRS, LID_PAIRS, GateGeometry, mirror_plan
from livefilter.pipeline.host import HostStyling, LookRuntime, Pipeline
from livefilter.protocols import DeviceFaceStage, DeviceTranslator
from livefilter.types import Face, Tracked

log = logging.getLogger(__name__)

OUTPUT_FORMATS = DEVICE_OUTPUT_FORMATS
_OVAL = list(FACE_OVAL)
_NO_LANDMARKS = np.zeros((468, 2), np.float32)  # faces without dense landmarks (their mask is the ellipse)


class Upload(NamedTuple):
    """A frame uploaded by the face stage, handed to the styling stages in its :class:`Tracked`."""

    buffer: DeviceFrameBuffer
    occluders: dict  # (look name, track id) -> (S, S) bool


class DeviceStyling:
    """The device pipeline's pixels: a :class:`~livefilter.protocols.Styling` part on a torch device
    (CUDA; the CPU device in tests), given to :class:`~livefilter.pipeline.host.Pipeline`.

    The tracker is a host :class:`~livefilter.protocols.TracksFaces` (it reads the host frame) or a
    :class:`~livefilter.protocols.DeviceFaceStage` on this device (it is handed the upload).
    ``output_format`` I420 / NV12 converts on the device and downloads the planar frame (half the
    bytes of RGB) for sinks that want it. ``fuse`` (default: on CUDA) compiles the frame-sized pixel-format conversion into a
    single kernel (:mod:`livefilter.composite.fused`). A look whose translator is a host one
    (``auto`` falling back to onnxruntime) is styled by a :class:`HostStyling` on the downloaded frame.
    """

    # outputs are views of the pinned download buffers, overwritten two frames later
    reuses_output_buffers = True

    def __init__(self, device: str = "cuda", output_format: str = "RGB",
                 fuse: bool | None = None, capture_fn=None, device_translators_only: bool = False) -> None:
        """``capture_fn``: a stand-in for :func:`livefilter.gpu.graphs.capture` (tests: the crop-space
        graphs on the CPU device). ``device_translators_only``: every translator must have the
        :class:`~livefilter.protocols.DeviceTranslator` ability (a backend chosen for the device
        pipeline); otherwise a host translator (``auto`` falling back to onnxruntime) styles on the
        host path."""
        import torch

        self.device_translators_only = device_translators_only
        if output_format not in OUTPUT_FORMATS:
            raise SettingError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
        self.output_format = output_format
        self.device = torch.device(device)
        self.finish = DeviceSkinFinish(self.device)
        self.dtype = torch.float32  # geometry in FP32; the translator casts its own input
        # fused pixel-format conversion: on CUDA by default (Triton); on the CPU only when asked for
        self.fuse = self.device.type == "cuda" if fuse is None else bool(fuse)
        cuda = self.device.type == "cuda"
        self._capture_fn = capture_fn
        self._graphs = cuda or capture_fn is not None
        self._crop_stages: dict[str, CropStage] = {}
        self.warmed_up = False
        if cuda:
            from livefilter.gpu.streams import pipeline_streams

            streams = pipeline_streams(str(self.device))
            self._face_stream, self._compute_stream = streams.face, streams.compute
        else:
            self._face_stream = self._compute_stream = None
        self.host = HostStyling()  # looks whose translator runs on the host
        self.pipeline: Pipeline | None = None
        self._device_faces = False
        self._buffers: dict[tuple[int, int], list[DeviceFrameBuffer]] = {}
        self._flips: dict[tuple[int, int], int] = {}
        self._buffers_lock = threading.Lock()  # the face thread takes buffers; the control thread may too
        self._comps: dict[tuple[int, int, int], DeviceCompositor] = {}
        self._occ_maskers: dict[int, LandmarkMasker] = {}  # the face thread's own (region buffers)
        self._dev_history: dict = {}
        self._occ_crops: np.ndarray | None = None  # the face thread's own crop buffer
        self.clock: DeviceStageClock | None = None
        self._scene = None  # the scene stage's device twin, made when first needed

    def attach(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.host.attach(pipeline)
        self._device_faces = isinstance(pipeline.tracker, DeviceFaceStage)
        self.clock = DeviceStageClock(pipeline.stats, self.device.type == "cuda")

    # -- warm-up (before the face-stage worker starts) -------------------------------------------
    def look_loaded(self, rt: LookRuntime) -> None:
        """A look loaded after the warm-up (a live switch, on the control thread, before it goes
        live) is warmed up here, never by the frame that first uses it."""
        if self.warmed_up:
            self._warm_look(rt)

    def check_tracker(self, tracker) -> None:
        """A device face stage must run on this pipeline's device (it reads the upload there)."""
        if isinstance(tracker, DeviceFaceStage) and tracker.device.type != self.device.type:
            raise SettingError(f"face stage {type(tracker).__name__} runs on {tracker.device.type}: it cannot read "
                               f"the device pipeline's frames on {self.device.type}")

    def check_translator(self, translator, look) -> None:
        if self.device_translators_only and not isinstance(translator, DeviceTranslator):
            raise SettingError(f"translator {translator.name!r} for look '{look.name}' cannot run on the device "
                               f"pipeline ({self.device.type}): it has no translate_tensor/warm_up")

    def _crop_stage(self, rt: LookRuntime) -> CropStage:
        stage = self._crop_stages.get(rt.look.name)
        if stage is None:
            stage = CropStage(rt.look.input_size, rt.blender.mask, rt.masker.feather_px, self.pipeline.max_faces,
                              self.device, len(rt.style) if rt.style is not None else 1, self._graphs,
                              self._capture_fn, name=f"{rt.look.name} styling", placement=rt.placement,
                              tight_ratio=rt.blender.placement.tight_ratio if rt.blender.placement else 1.0,
                              reach=rt.masker.reach)
            self._crop_stages[rt.look.name] = stage
            self._settle()
        return stage

    def _warm_look(self, rt: LookRuntime) -> None:
        with self._stream(self._compute_stream):
            if isinstance(rt.translator, DeviceTranslator):
                rt.translator.warm_up()
            self._crop_stage(rt).warm_up()
        self._settle()

    def warm_up(self) -> None:
        """Capture every CUDA graph for every face count 1..max faces (translators and crop-space
        chains of the loaded looks, the device face stage's networks) and allocate their buffers.

        Called by :meth:`run` before the face-stage worker starts (and by the first :meth:`process`
        otherwise); a look loaded later is warmed up when it is loaded. Idempotent.
        """
        if self.warmed_up:
            return
        for rt in self.pipeline.runtimes():
            self._warm_look(rt)
        if self._device_faces:
            with self._stream(self._face_stream):
                self.pipeline.tracker.warm_up()
            self._settle()
        self.warmed_up = True

    def _settle(self) -> None:
        """Buffers just allocated (and zero-filled) on this thread's current stream are complete
        before the face or compute stream touches them: one wait, at construction only."""
        if self.device.type == "cuda":
            import torch

            torch.cuda.current_stream(self.device).synchronize()

    # -- face stream (worker thread) ------------------------------------------------------------
    def _stream(self, stream):
        import torch

        return torch.cuda.stream(stream) if stream is not None else nullcontext()

    def _next_buffer(self, h: int, w: int) -> DeviceFrameBuffer:
        with self._buffers_lock:
            pair = self._buffers.get((h, w))
            if pair is None:  # allocated once per resolution, never per frame
                pair = [DeviceFrameBuffer(h, w, self.device, self.dtype) for _ in range(2)]
                self._settle()
                self._buffers[(h, w)] = pair
                self._flips[(h, w)] = 0
            self._flips[(h, w)] ^= 1
            return pair[self._flips[(h, w)]]

    def _upload(self, image) -> Upload:
        """Upload ``image`` into the next frame buffer on the face stream."""
        h, w = int(image.shape[0]), int(image.shape[1])
        buf = self._next_buffer(h, w)
        with self._stream(self._face_stream), self.pipeline.stats.time("upload"):
            buf.load(image, self._face_stream)
        return Upload(buf, {})

    def _upload_of(self, image, tracked: Tracked | None) -> Upload:
        """The upload the face stage made of ``image`` (made now when the face stage did not run)."""
        if tracked is not None and tracked.upload is not None:
            return tracked.upload
        return self._upload(image)

    def track(self, image) -> Tracked:
        """Upload, then the face stage on the face stream (a device one is handed the upload, a host
        one the host frame); occluders of the found faces as well."""
        if not self.warmed_up:
            self.warm_up()
        pipe = self.pipeline
        try:
            upload = self._upload(image)
        except Exception as e:  # handed to process(), which applies the failure policy
            return Tracked(e)
        with self._stream(self._face_stream):
            if self._device_faces:
                faces = pipe.timed_faces(pipe.tracker.track_tensor, upload.buffer.frame_f)
            else:
                faces = pipe.timed_faces(pipe.tracker.update, image)
            if isinstance(faces, list) and faces:
                try:
                    self._find_occluders(image, upload, faces)
                except Exception as e:  # occluders are a refinement: style without them
                    pipe.log_once(f"occluders:{type(e).__name__}", e)
        return Tracked(faces, upload)

    def _find_occluders(self, image, upload: Upload, faces: list[Face]) -> None:
        """Occluded pixels (hands, masks) of each tracked face, for the look that is live now.

        The skin model needs the aligned crop on the host: a cheap OpenCV warp of the host frame,
        or, for a frame decoded on the device, the (S, S) crops warped there and read back (on the
        face stream, so the styling stream never waits for it).
        """
        pipe = self.pipeline
        rt = pipe.runtime(pipe.controls.look)
        todo = [f for f in faces[: pipe.max_faces] if f.landmarks is not None and f.track_id >= 0]
        if not todo or not rt.masker.cuts_occluders:
            return
        mats = rt.aligner.transforms(todo)
        s = rt.look.input_size
        if self._occ_crops is None or self._occ_crops.shape[0] < len(todo) or self._occ_crops.shape[1] != s:
            self._occ_crops = np.empty((pipe.max_faces, s, s, 3), np.uint8)
        crops = self._occ_crops[: len(todo)]
        if is_device_tensor(image):
            crops[...] = self._device_crops(upload.buffer, mats, s)
        else:
            rt.aligner.warp(image, mats, out=crops)
        masker = self._occ_maskers.get(s)
        if masker is None:
            masker = self._occ_maskers[s] = LandmarkMasker(s)
        for i, (f, m) in enumerate(zip(todo, mats)):
            pts = f.landmarks @ m[:, :2].T + m[:, 2]
            upload.occluders[(rt.look.name, f.track_id)] = occluded_pixels(crops[i], pts, masker)

    def _device_crops(self, buf: DeviceFrameBuffer, mats: np.ndarray, size: int) -> np.ndarray:
        import torch

        theta = torch.from_numpy(warp_thetas(mats, (buf.h, buf.w), size)).to(self.device)
        crops = warp_crops(buf.frame_f, theta, size)
        return crops.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def scene_stage(self):
        """The scene stage's device twin (``scene/device_stage.py``), made when first needed."""
        if self._scene is None:
            from livefilter.scene.device_stage import DeviceSceneStage

            self._scene = DeviceSceneStage(self.pipeline.segment, self.device)
        return self._scene

    # -- compute stream (main thread) -------------------------------------------------------------
    def unstyled(self, image, tracked: Tracked | None):
        """A frame decoded on the device still goes out through one download; a host frame as it is."""
        if is_device_tensor(image):
            return self._download_frame(self._upload_of(image, tracked))
        return image

    def plain(self, image, tracked: Tracked, faces: list[Face], rt: LookRuntime, controls) -> np.ndarray:
        """No face styled: the scene stage, when wanted, on the device's copy of the frame before its
        one download (a look whose translator runs on the host gets the host's, as its styled frames)."""
        if not self.pipeline.scene_wanted(rt, controls):
            return self.unstyled(image, tracked)
        upload = self._upload_of(image, tracked)
        if not isinstance(rt.translator, DeviceTranslator):
            host = self._download_frame(upload) if is_device_tensor(image) else image
            return self.host.plain(host, tracked, faces, rt, controls)
        self.pipeline.stats.mark("scene")
        buf = upload.buffer
        with self._stream(self._compute_stream):
            if self._compute_stream is not None:
                self._compute_stream.wait_event(buf.ready)
            with self.clock.time("scene"):
                self.scene_stage().apply(buf.frame, faces, controls.scene, rt.scene)
            if self._compute_stream is not None:
                buf.released.record(self._compute_stream)
            out = buf.download(buf.frame, self._compute_stream)
        self.clock.flush()
        return out

    def _download_frame(self, upload: Upload) -> np.ndarray:
        """The unstyled frame of ``upload``, downloaded (a view of its pinned buffer)."""
        buf = upload.buffer
        with self._stream(self._compute_stream):
            if self._compute_stream is not None:
                self._compute_stream.wait_event(buf.ready)
            return buf.download(buf.frame, self._compute_stream)

    def _compositor(self, h: int, w: int, rt: LookRuntime) -> DeviceCompositor:
        key = (h, w, rt.look.name)
        comp = self._comps.get(key)
        if comp is None:  # allocated once per resolution and look, never per frame
            comp = DeviceCompositor(h, w, rt.look.input_size, rt.blender.mask, self.pipeline.max_faces, str(self.device),
                                    self.dtype, fuse=self.fuse,
                                    crops=self._crop_stage(rt).crops)
            self._settle()
            self._comps[key] = comp
        return comp

    def _smooth_device(self, faces: list[Face], styled):
        """Temporal blending in face-aligned space on the device (the CPU path's ``_smooth``)."""
        import torch

        a = self.pipeline.temporal
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

    def _occlusion(self, upload: Upload, image, faces: list[Face], mats, crop_pts, rt: LookRuntime):
        """(N, S, S) bool occluder masks: from the face stage, else computed now (host frames)."""
        s = rt.look.input_size
        occluded = np.zeros((len(faces), s, s), bool)
        for i, f in enumerate(faces):
            if f.landmarks is None or not rt.masker.cuts_occluders:
                continue
            found = upload.occluders.get((rt.look.name, f.track_id))
            if found is None and not is_device_tensor(image):
                crop = rt.aligner.warp(image, mats[i:i + 1], out=rt.crops[i:i + 1])[0]
                found = occluded_pixels(crop, crop_pts[i], rt.masker)
            if found is not None:
                occluded[i] = found
        return occluded

    def _stage_placement(self, host, faces: list[Face], mats, crop_pts, region, rt: LookRuntime) -> list:
        """The makeup placement's geometry for the frame, on the host (as the host pipeline computes it):
        each face's crop-space maps and mirror affines into the frame's parameters, its frame-step polygons
        in the faces' rectangle; returns per face the frame step's :class:`GateGeometry` (None: no landmarks)."""
        s = rt.look.input_size
        y0, x0, h, w = region
        maps = rt.blender.placement.maps
        gates = []
        for i, f in enumerate(faces):  # per face (a handful): polygons, never pixels
            if f.landmarks is None:
                host["pixels"][i, 1:] = 0
                host["mirror_on"][i] = 0.0
                gates.append(None)
                continue
            m = maps.build(crop_pts[i], rt.placement)
            for j, (pairs, a, b) in enumerate(((LID_PAIRS, 5, 6), (CHEEK_PAIRS, 7, 8))):
                plan = mirror_plan(crop_pts[i], m[a], m[b], pairs)  # on the 0..1 maps, as the host
                host["mirror_on"][i, j] = plan is not None
                if plan is not None:
                    host["mirror_theta"][i, 2 * j:2 * j + 2] = affine_to_theta(
                        np.stack([invert_affine(plan[None])[0], plan]), (s, s), (s, s), align_corners=True)
            np.multiply(m, 255.0, out=m)
            np.rint(m, out=m)
            host["pixels"][i, 1:] = m  # uint8 slot: 0..255 (maps are 0..1)
            g = GateGeometry.of(f.landmarks, (x0, y0), w, h)
            host["gate_pts"][i] = g.points()
            bx0, by0, bx1, by1 = g.mouth_box
            host["lip_theta"][i] = back_thetas(mats[i:i + 1], (y0 + by0, x0 + bx0, max(by1 - by0, 1),
                                                               max(bx1 - bx0, 1)), s)[0]
            gates.append(g)
        return gates

    def _gate(self, back, frame, lips, dev, gates: list) -> None:
        """The placement's frame step for every face with landmarks, on its warped main layer (in place)."""
        n_outer, n_inner = len(LIPS), len(LIPS_INNER)
        for i, g in enumerate(gates):
            if g is None:
                continue
            pts = dev["gate_pts"][i]
            eyes, at = [], n_outer + n_inner
            for poly in g.eyes:
                eyes.append(pts[at:at + len(poly)])
                at += len(poly)
            gate_face(back[i], frame, lips[i:i + 1], dev["lip_theta"][i:i + 1], pts[:n_outer],
                      pts[n_outer:n_outer + n_inner], eyes, g.mouth_box, g.eye_boxes)

    def style(self, image, tracked: Tracked, faces: list[Face], rt: LookRuntime, controls, strength):
        """Device version of align -> translate -> blend -> convert; returns the host frame."""
        upload = self._upload_of(image, tracked)
        if not isinstance(rt.translator, DeviceTranslator):  # e.g. onnxruntime: the host path
            host = self._download_frame(upload) if is_device_tensor(image) else image
            return self.host.style(host, tracked, faces, rt, controls, strength)
        self.pipeline.stats.mark("device")
        buf = upload.buffer
        h, w = buf.h, buf.w
        comp = self._compositor(h, w, rt)
        crop_stage = self._crop_stage(rt)
        comp.bind(buf.frame_f, buf.frame)
        n, s = len(faces), rt.look.input_size
        mats = rt.aligner.transforms(faces)
        have = np.array([f.landmarks is not None for f in faces])
        landmarks = np.stack([f.landmarks if f.landmarks is not None else _NO_LANDMARKS for f in faces])
        crop_pts = np.einsum("nij,nkj->nik", landmarks, mats[:, :, :2]) + mats[:, None, :, 2]  # all faces at once
        occluded = self._occlusion(upload, image, faces, mats, crop_pts, rt)
        region = faces_region(mats, s, h, w)
        strength = np.broadcast_to(np.asarray(strength, np.float32), (n,))
        edits = controls.edits
        clock = self.clock
        params = crop_stage.params
        with self._stream(self._compute_stream):
            if self._compute_stream is not None:
                self._compute_stream.wait_event(buf.ready)
            params.begin()
            host = params.host  # every per-frame parameter, then one copy
            host["warp_theta"][:n] = warp_thetas(mats, (h, w), s)
            host["back_theta"][:n] = back_thetas(mats, region, s)
            host["oval"][:n] = crop_pts[:, _OVAL]
            host["strength"][:n] = strength
            host["alpha"][:n] = 1.0 if rt.strength_in_network else strength
            host["have"][:n] = have
            if rt.style is not None:
                host["style"][:] = rt.style
            host["edits"][:] = (edits.contrast, edits.brightness, edits.warmth, edits.saturation)
            host["pixels"][:n, 0] = occluded
            gates = self._stage_placement(host, faces, mats, crop_pts, region, rt) if rt.placement else None
            params.upload(rows_of_last=n, stream=self._compute_stream)
            dev = params.dev
            with clock.time("align"):
                crops = comp.warp_theta(dev["warp_theta"][:n])
            with clock.time("translate"):
                styled = rt.translator.translate_tensor(crops, dev["style"] if rt.style is not None else None,
                                                        dev["strength"][:n])
                if self.pipeline.temporal > 0:
                    styled = self._smooth_device(faces, styled)
            with clock.time("blend"):
                # edits, masks, occluders, the placement's crop step: one graph replay
                delta, lips = crop_stage.run(styled, n)
                result = comp.blend_delta(delta, region, dev["back_theta"][:n],
                                          gate=(lambda back, frame: self._gate(back, frame, lips, dev, gates))
                                          if gates is not None else None)
                if controls.finish.active:  # on the composited RGB frame, at full resolution (within "blend")
                    with clock.time("finish"):
                        self.finish.apply(result, [f.landmarks for f in faces if f.landmarks is not None],
                                          controls.finish)
                if self.pipeline.scene_wanted(rt, controls):
                    with clock.time("scene"):  # background and grade on the styled frame, on the device
                        self.scene_stage().apply(comp.out, faces, controls.scene, rt.scene)
                if self.output_format != "RGB":
                    result = comp.to_pixel_format(self.output_format)
            if self._compute_stream is not None:
                buf.released.record(self._compute_stream)  # the face stream may now reuse this buffer
            out = buf.download(result, self._compute_stream)  # the one host wait per frame
        clock.flush()
        return out  # a view of pinned memory: the sinks copy it (reuses_output_buffers)


def device_pipeline(tracker, looks, translator_factory, controls, *, device: str = "cuda", output_format: str = "RGB",
                    fuse: bool | None = None, capture_fn=None, device_translators_only: bool = False,
                    **pipeline_options) -> Pipeline:
    """A :class:`~livefilter.pipeline.host.Pipeline` given a :class:`DeviceStyling` (the device pipeline)."""
    styling = DeviceStyling(device, output_format, fuse, capture_fn, device_translators_only)
    return Pipeline(tracker, looks, translator_factory, controls, styling=styling, **pipeline_options)
