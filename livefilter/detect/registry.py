"""The one registry of face detectors: what ``--detector`` accepts and how each is built.

Everything that knew detectors by name derives from here: ``create_detector`` / ``create_tracker``
(the factory), ``PipelineSettings.validate`` (:func:`check`), the ``--detector`` help (:func:`help_text`)
and the device pipeline's choice of a GPU face stage (``DetectorSpec.device_twin``).
Add a detector with :func:`register_detector`; the built-in ones are in ``builtin_detectors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from livefilter.choices import listed
from livefilter.errors import SettingError

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


REGISTRY: dict[str, DetectorSpec] = {}  # by name, in registration order (use register_detector)


def register_detector(spec: DetectorSpec) -> DetectorSpec:
    """Add (or replace) a detector."""
    if not spec.name or any(c.isspace() or c in ",|" for c in spec.name):
        raise ValueError(f"invalid detector name {spec.name!r}")
    REGISTRY[spec.name] = spec
    return spec


def specs() -> list[DetectorSpec]:
    return list(REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def check(name: str, label: str = "detector") -> DetectorSpec:
    """The spec of ``name``, or the one-line error naming every registered detector."""
    spec = REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None:
        raise SettingError(f"{label} must be {listed(names())}, got {name!r}")
    return spec


def help_text() -> str:
    """``blazeface (bundled) or insightface (needs its model pack).`` for the --detector option."""
    return listed(tuple(f"{s.name} ({s.note})" if s.note else s.name for s in specs())) + "."


from livefilter.detect import builtin_detectors  # noqa: E402,F401  (registers the built-in detectors)
