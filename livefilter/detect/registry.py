"""The one registry of face detectors: what ``--detector`` accepts and how each is built.

Everything that knew detectors by name derives from here: ``create_detector`` / ``create_tracker``
(the factory), ``PipelineSettings.validate`` (:func:`check`), the ``--detector`` help (:func:`help_text`)
and the device pipeline's choice of a GPU face stage (``DetectorSpec.device_twin``).
Add a detector with :func:`register_detector`; the built-in ones are in ``builtin_detectors.py``.
"""

from __future__ import annotations

from livefilter.settings.choices import DETECTORS
from livefilter.infra.terminal_text import listed
from livefilter.detect.builtin_detectors import BUILTIN_DETECTORS
from livefilter.detect.detector_spec import DetectorFactory, DetectorSpec
from livefilter.infra.registry import Registry

REGISTRY: Registry[DetectorSpec] = Registry("detector", forbidden=",|")  # by name, in registration order
register_detector = REGISTRY.register
specs = REGISTRY.specs
names = REGISTRY.names
check = REGISTRY.check


def help_text() -> str:
    """``blazeface (bundled) or insightface (needs its model pack).`` for the --detector option."""
    return listed(REGISTRY.help_items(lambda s: s.note)) + "."


for _spec in BUILTIN_DETECTORS:
    register_detector(_spec)
# ``choices.DetectorName`` types the built-in names; it must say exactly what is registered here
if names()[: len(DETECTORS)] != DETECTORS:
    raise RuntimeError(f"choices.DETECTORS {DETECTORS} does not match the built-in detectors {names()}")

__all__ = ["DetectorFactory", "DetectorSpec", "check", "help_text", "names", "register_detector", "specs"]
