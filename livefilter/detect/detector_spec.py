"""What one face detector is (:class:`DetectorSpec`): the data the detector registry holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from livefilter.protocols import Detector

# (score threshold, onnxruntime threads or None, most faces or None) -> a detector
DetectorFactory = Callable[[float, "int | None", "int | None"], "Detector"]


@dataclass(frozen=True)
class DetectorSpec:
    """One face detector. Its faces are refined and tracked by FaceMesh whatever the detector."""

    name: str
    factory: DetectorFactory
    note: str = ""  # a short note for the --detector help
    device_twin: bool = False  # the device pipeline has a GPU version of it (``gpu/face_stage.py``)
