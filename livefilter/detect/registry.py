"""The one registry of face detectors: what ``--detector`` accepts and how each is built.

Everything that knew detectors by name derives from here: ``create_detector`` / ``create_tracker``
(the factory), ``PipelineSettings.validate`` (:func:`check`), the ``--detector`` help (:func:`help_text`)
and the device pipeline's choice of a GPU face stage (``DetectorSpec.device_twin``).
Add a detector with :func:`register_detector`; the built-in ones are in ``builtin_detectors.py``.
"""

from __future__ import annotations

from livefilter.settings.choices import DETECTORS, listed
from livefilter.detect.builtin_detectors import BUILTIN_DETECTORS
from livefilter.detect.detector_spec import DetectorFactory, DetectorSpec
from livefilter.errors import SettingError

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


for _spec in BUILTIN_DETECTORS:
    register_detector(_spec)
# ``choices.DetectorName`` types the built-in names; it must say exactly what is registered here
if names()[: len(DETECTORS)] != DETECTORS:
    raise RuntimeError(f"choices.DETECTORS {DETECTORS} does not match the built-in detectors {names()}")

__all__ = ["DetectorFactory", "DetectorSpec", "check", "help_text", "names", "register_detector", "specs"]
