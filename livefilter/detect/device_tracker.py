"""The face stage on the device: BlazeFace and FaceMesh read the uploaded frame, not the host one.

:class:`DeviceFaceTracker` is the :class:`~livefilter.protocols.DeviceFaceStage` of the device
pipeline: the pipeline hands it the frame it just uploaded ((1, 3, H, W) float in [0, 255]) as the
argument of :meth:`DeviceFaceTracker.track_tensor`, and the tracker passes that tensor, as an
(H, W, 3) view, to its detector and landmarker as the frame they work on. The detector's letterbox
and FaceMesh's rotated ROI crops are resampled on the device from it (all ROIs in one
``grid_sample``), both networks run through the torch ONNX interpreter, and only their small outputs
come back to the host for decoding, non-maximum suppression and tracking (a detection pass reads
2304 x 17 floats; FaceMesh 1405 floats per face). On CUDA each network is one graph replay per batch
size (:mod:`livefilter.gpu.graphs`), captured in :meth:`DeviceFaceTracker.warm_up` (the pipeline's
warm-up) for every batch the tracker can ask for. The host-side logic (anchors, NMS, ROI tracking,
One-Euro) is the CPU classes' own, inherited.
"""

from __future__ import annotations

import logging

import numpy as np

from livefilter.detect.blazeface import INPUT as DETECT_INPUT
from livefilter.detect.blazeface import MODEL_FILE as DETECT_MODEL
from livefilter.detect.blazeface import BlazeFaceDetector, LetterboxSlot
from livefilter.detect.facemesh import INPUT as MESH_INPUT
from livefilter.detect.facemesh import MODEL_FILE as MESH_MODEL
from livefilter.detect.facemesh import FaceMeshLandmarker
from livefilter.infra.onnx_session import model_path
from livefilter.detect.tracker import FaceTracker, TrackerConfig
from livefilter.align.device import affine_to_theta
from livefilter.align.host import invert_affine
from livefilter.gpu.graphs import GraphedModule
from livefilter.types import Face

DETECT_BATCHES = (1,)  # the tracker detects on the whole frame (one letterbox)

log = logging.getLogger(__name__)


def device_frame(image, device):
    """The (1, 3, H, W) frame behind ``image``, the (H, W, 3) device view the tracker hands its stages.

    A host array here means the stage was given the wrong frame: one clear error, not a wrong run.
    """
    import torch

    if not torch.is_tensor(image) or image.dim() != 3 or image.device.type != device.type:
        got = f"{type(image).__name__} {tuple(image.shape)}" + (f" on {image.device}" if torch.is_tensor(image) else "")
        raise TypeError(f"device face stage: needs the uploaded frame, an (H, W, 3) tensor on {device}; got {got}")
    return image.permute(2, 0, 1)[None]


def _module(file: str, device, size: int, max_batch: int, name: str) -> GraphedModule:
    import torch

    from livefilter.translate.onnx_torch import build_module

    # FP32 on purpose: both networks are small (BlazeFace ~0.2 GFLOP), and landmark precision
    # (sub-pixel at 1080p) is worth more than the few microseconds half precision would save.
    module = build_module(str(model_path(file)), str(device), torch.float32, all_outputs=True)
    # On CUDA one graph replay per batch size instead of launching every node from Python.
    return GraphedModule(module, (3, size, size), device, max_batch, name=name)


class DeviceBlazeFace(BlazeFaceDetector):
    """:class:`BlazeFaceDetector` whose letterbox and network run on the device.

    Its ``image`` arguments are the uploaded frame as an (H, W, 3) float view on :attr:`device`
    (:func:`device_frame`), not host arrays.
    """

    def __init__(self, device: str = "cuda", score_threshold: float = 0.5, iou_threshold: float = 0.3,
                 max_faces: int | None = None) -> None:
        import torch

        self.device = torch.device(device)
        super().__init__(score_threshold, iou_threshold, max_faces)

    def warm_up(self) -> None:
        """Capture the network's graph for the batches the tracker detects with."""
        self.module.warm_up(DETECT_BATCHES)

    def _load_model(self, threads: int | None) -> None:
        import torch

        self.module = _module(DETECT_MODEL, self.device, DETECT_INPUT, 1, "BlazeFace")
        self._batched = True
        self._dev_canvas = torch.empty((0, 3, DETECT_INPUT, DETECT_INPUT), device=self.device)
        self._host_reg = self._host_cls = None
        self._grow(1)

    def _grow(self, n: int) -> None:
        import torch

        if self._dev_canvas.shape[0] >= n:
            return
        pin = self.device.type == "cuda"
        self._dev_canvas = torch.full((n, 3, DETECT_INPUT, DETECT_INPUT), -1.0, device=self.device)
        self._host_reg = torch.zeros((n, len(self.anchors), 16), pin_memory=pin)
        self._host_cls = torch.zeros((n, len(self.anchors), 1), pin_memory=pin)

    def _ensure_batch(self, n: int) -> None:
        self._grow(n)

    def _letterbox(self, image, slot: int, region: tuple[int, int, int, int] | None = None) -> LetterboxSlot:
        import torch.nn.functional as F

        frame = device_frame(image, self.device)
        x1, y1, x2, y2 = region if region is not None else (0, 0, image.shape[1], image.shape[0])
        h, w = y2 - y1, x2 - x1
        scale = DETECT_INPUT / max(h, w)
        nw, nh = min(DETECT_INPUT, max(1, round(w * scale))), min(DETECT_INPUT, max(1, round(h * scale)))
        # antialiased shrink ~ the CPU path's INTER_AREA; bilinear when enlarging, as there
        small = F.interpolate(frame[:, :, y1:y2, x1:x2], size=(nh, nw), mode="bilinear", align_corners=False,
                              antialias=scale < 1.0)
        canvas = self._dev_canvas[slot]
        canvas.fill_(-1.0)  # black padding, normalised
        canvas[:, :nh, :nw] = small[0].clamp(0, 255) * (1.0 / 127.5) - 1.0
        return self._slot(image.shape, region, nw / w, nh / h)

    def _run(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        reg, cls = self.module(self._dev_canvas[:n])
        self._host_reg[:n].copy_(reg, non_blocking=True)
        self._host_cls[:n].copy_(cls.reshape(n, -1, 1), non_blocking=True)
        if self.device.type == "cuda":
            torch.cuda.current_stream().synchronize()  # the face stage's own stream, not the styling one
        return self._host_reg[:n].numpy(), self._host_cls[:n].numpy()


class DeviceFaceMesh(FaceMeshLandmarker):
    """:class:`FaceMeshLandmarker` whose ROI crops (one batched warp) and network run on the device;
    its ``image`` arguments are the uploaded frame's (H, W, 3) device view, as :class:`DeviceBlazeFace`'s."""

    def __init__(self, device: str = "cuda", max_batch: int = 4, min_presence: float = 0.5) -> None:
        import torch

        self.device = torch.device(device)
        self._graph_batch = max(1, max_batch)
        super().__init__(None, max_batch, min_presence)

    def _load_model(self, threads: int | None) -> None:
        import torch

        self.module = _module(MESH_MODEL, self.device, MESH_INPUT, self._graph_batch, "FaceMesh")
        self._batched = True
        pin = self.device.type == "cuda"  # the landmarks' download buffers, allocated once
        self._host_pts = torch.zeros((self._graph_batch, 1404), pin_memory=pin)
        self._host_flag = torch.zeros((self._graph_batch, 1), pin_memory=pin)

    def _infer(self, image, mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch
        import torch.nn.functional as F

        frame = device_frame(image, self.device)
        k = len(mats)
        if self._host_pts.shape[0] < k:  # more ROIs than faces (a re-detection): grow once
            pin = self.device.type == "cuda"
            self._host_pts = torch.zeros((k, 1404), pin_memory=pin)
            self._host_flag = torch.zeros((k, 1), pin_memory=pin)
        theta = affine_to_theta(invert_affine(mats), tuple(frame.shape[2:]), (MESH_INPUT, MESH_INPUT))
        theta_t = torch.from_numpy(theta).to(self.device, torch.float32)  # FP32 geometry
        grid = F.affine_grid(theta_t, (k, 3, MESH_INPUT, MESH_INPUT), align_corners=False)
        crops = F.grid_sample(frame.expand(k, -1, -1, -1), grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False)
        pts, flag = self.module(crops.float() * (1.0 / 255.0))
        self._host_pts[:k].copy_(pts.reshape(k, -1), non_blocking=True)
        self._host_flag[:k].copy_(flag.reshape(k, 1), non_blocking=True)
        if self.device.type == "cuda":
            torch.cuda.current_stream().synchronize()
        return self._host_pts[:k].numpy(), self._host_flag[:k].numpy()

    def warm_up(self) -> None:
        """Capture the network's graphs for every batch 1..max the tracker can ask for."""
        self.module.warm_up(range(1, self._graph_batch + 1))


class DeviceFaceTracker(FaceTracker):
    """The :class:`FaceTracker` over :class:`DeviceBlazeFace` and :class:`DeviceFaceMesh`: the
    :class:`~livefilter.protocols.DeviceFaceStage` of the device pipeline."""

    detector: DeviceBlazeFace
    landmarker: DeviceFaceMesh

    def __init__(self, detector: DeviceBlazeFace, landmarker: DeviceFaceMesh,
                 config: TrackerConfig | None = None) -> None:
        if detector.device != landmarker.device:
            raise ValueError(f"detector on {detector.device} and landmarker on {landmarker.device}: one device")
        super().__init__(detector, landmarker, config)
        self.device = detector.device

    def track_tensor(self, frame) -> list[Face]:
        """Faces of the uploaded ``frame`` ((1, 3, H, W) float in [0, 255] on :attr:`device`)."""
        if frame.dim() != 4 or frame.shape[:2] != (1, 3):
            raise ValueError(f"device face stage: the frame must be (1, 3, H, W), got {tuple(frame.shape)}")
        return self.update(frame[0].permute(1, 2, 0))  # the (H, W, 3) view the tracker's logic reads

    def warm_up(self) -> None:
        """Capture both networks' graphs (the device pipeline calls this on its face stream)."""
        self.detector.warm_up()
        self.landmarker.warm_up()


def create_device_tracker(config: TrackerConfig | None = None, device: str = "cuda",
                          score_threshold: float = 0.5) -> DeviceFaceTracker:
    """The BlazeFace + FaceMesh tracker on the device.

    FaceMesh's graphs cover every batch the tracker asks for: up to ``max_faces`` tracks or new
    detections, and two candidates for ``only="largest"``."""
    config = (config or TrackerConfig()).validate()
    return DeviceFaceTracker(DeviceBlazeFace(device, score_threshold),
                             DeviceFaceMesh(device, max(2, config.max_faces), config.min_presence), config)
