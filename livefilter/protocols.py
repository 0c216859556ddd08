"""The one small protocol per pipeline stage.

The pipeline wires these together; a stage knows nothing of the others. CPU implementations pass
NumPy arrays; GPU implementations (livefilter.gpu) pass device tensors behind the same shapes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from livefilter.types import CapturedFrame, Face, RawDetection, SourceInfo, Tracked


@runtime_checkable
class Source(Protocol):
    info: SourceInfo
    dropped: int  # frames a live source overwrote before they were read (newest wins); 0 for files
    decode_errors: int  # frames that could not be decoded and were skipped

    def read(self) -> CapturedFrame | None:
        """Next frame, or None at end of stream. Live sources return the newest frame only."""

    def close(self) -> None: ...


@runtime_checkable
class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 frame, with box, score and five keypoints."""


@runtime_checkable
class TiledDetector(Protocol):
    """A detector that can also look at overlapping tiles of the frame, for faces too small for
    one pass (the single-image fallback of :class:`livefilter.detect.tracker.DetectAndLandmark`)."""

    def detect_tiled(self, image: np.ndarray) -> list[RawDetection]:
        """Detections (box, score, six coarse keypoints) of the whole frame and its tiles, merged."""


@runtime_checkable
class Landmarker(Protocol):
    def refine(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Re-estimate keypoints (and dense landmarks) for faces whose rough position is known."""


@runtime_checkable
class TracksFaces(Protocol):
    """The face stage (e.g. :class:`livefilter.detect.tracker.FaceTracker`)."""

    def update(self, image: np.ndarray) -> list[Face]:
        """Faces of this frame, with stable track ids and smoothed keypoints."""

    def reset(self) -> None: ...


@runtime_checkable
class Translator(Protocol):
    """Runs the look generator on a batch of aligned face crops."""

    input_size: int
    name: str
    strength_in_network: bool  # the network blends by strength itself (the blender then uses alpha 1)

    def __call__(
        self, crops: np.ndarray, style: np.ndarray | None, strength: np.ndarray
    ) -> np.ndarray:
        """crops (N,S,S,3) uint8 RGB; style (K,) look code or None; strength (N,) in [0,1].

        Returns stylised crops (N,S,S,3) uint8 RGB.
        """


@runtime_checkable
class Sink(Protocol):
    closed: bool  # True once the sink takes no more frames (a full disk): the run stops

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        """Send one RGB uint8 frame."""

    def close(self) -> None: ...


@runtime_checkable
class DeviceTranslator(Protocol):
    """A translator that also runs on the device pipeline's own tensors, on the caller's stream."""

    def translate_tensor(self, crops, style, strength):
        """(N, 3, S, S) FP32 crops in [0, 255] on the device -> stylised, same range and layout
        (a view of a reused buffer, valid until the next call); no host synchronisation."""

    def warm_up(self, batches=None) -> None:
        """Prepare every batch size 1..max faces (CUDA graphs, engine shapes) before the hot path."""


@runtime_checkable
class DeviceFaceStage(Protocol):
    """The face stage of the device pipeline: it reads the frame the pipeline uploaded, handed to it
    as the argument of :meth:`track_tensor`, on the caller's (face) stream.

    A host :class:`TracksFaces` reads NumPy frames instead; the device pipeline runs either, the
    host pipeline only a host one (a mismatch is refused when the pipeline is built).
    """

    device: object  # the torch device the stage's networks run on

    def track_tensor(self, frame) -> list[Face]:
        """Faces of ``frame``, (1, 3, H, W) float32 in [0, 255] on :attr:`device`, with stable track
        ids and smoothed keypoints (as :meth:`TracksFaces.update`)."""

    def reset(self) -> None: ...

    def warm_up(self) -> None:
        """Capture the networks' graphs for every batch the stage asks for, before the hot path."""


@runtime_checkable
class Styling(Protocol):
    """The pixel part of a pipeline: align -> translate -> blend on the host
    (:class:`livefilter.pipeline.host.HostStyling`) or on a torch device
    (:class:`livefilter.pipeline.device.DeviceStyling`). :class:`livefilter.pipeline.host.Pipeline` is
    given one and keeps the run loop, the live controls and the pass-through policy itself.
    """

    output_format: str  # what a frame comes out as: RGB (H, W, 3), or planar I420 / NV12 from the device
    reuses_output_buffers: bool  # outputs are views of buffers overwritten later (keepers copy them)
    device: object  # the torch device the pixel stages run on; None: the host

    def attach(self, pipeline) -> None:
        """Bind to the pipeline that runs this part (its stats, tracker, looks and settings)."""

    def check_tracker(self, tracker) -> None:
        """Refuse, at build time, a face stage this part cannot feed (a one-line SettingError)."""

    def check_translator(self, translator, look) -> None:
        """Refuse, at build time, a translator this part cannot run (a one-line SettingError)."""

    def look_loaded(self, runtime) -> None:
        """A look's runtime was just made (on a live switch: before it goes live)."""

    def warm_up(self) -> None:
        """Allocate and capture everything the hot path needs, before the first frame."""

    def track(self, image) -> Tracked:
        """The face stage for ``image``, with whatever this part prepares for the frame meanwhile."""

    def style(self, image, tracked: Tracked, faces: list[Face], runtime, controls, strength: np.ndarray):
        """``image`` with the look on ``faces`` and the scene stage (background, grade) when the frame
        wants it: the output frame (in :attr:`output_format`)."""

    def plain(self, image, tracked: Tracked, faces: list[Face], runtime, controls):
        """``image`` with its faces as they are (none found, strength 0) and the scene stage when the
        frame wants it, on the same side (host or device) as :meth:`style` runs it for this look, so
        one scene stage (one temporal state) serves every frame."""

    def unstyled(self, image, tracked: Tracked | None):
        """``image`` as an output frame, nothing applied (paused, or a failure)."""
