"""What one translator backend is (:class:`BackendSpec`) and what its build step is asked and answers:
the data the backend registry holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

if TYPE_CHECKING:
    from livefilter.engines.cache import EngineCache
    from livefilter.looks.pack import Look
    from livefilter.protocols import Translator

PipelineDevice = Literal["cuda", "cpu"]


@dataclass(frozen=True)
class ExportRequest:
    """What ``livefilter export`` asks a backend's build step for."""

    max_faces: int
    precision: str
    rebuild: bool
    cache: "EngineCache"
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class ExportOutcome:
    cached: bool  # a valid artefact was already there
    detail: str  # where it is, or what was built


TranslatorFactory = Callable[["Look", int, str], "Translator"]  # (look, max faces, precision)
Probe = Callable[[], tuple[bool, str]]  # (usable here, why / what), cheap: nothing is built
ExportStep = Callable[["Look", ExportRequest], ExportOutcome]


@dataclass(frozen=True)
class BackendSpec:
    """One translator backend.

    ``device``: the torch device the device pipeline runs on with this backend ("cuda" only where
    torch sees CUDA), or None for the host pipeline. A backend with a device must build translators
    with the :class:`~livefilter.protocols.DeviceTranslator` ability; the build checks it.
    """

    name: str
    factory: TranslatorFactory
    note: str = ""  # a short note for the --backend help, where the name does not say it all
    device: PipelineDevice | None = None
    needs_gpu: bool = False
    in_auto: bool = False  # tried by ``auto``, in registration order
    probe: Probe | None = None  # None: not reported by doctor
    export: ExportStep | None = None  # None: nothing to build ahead of time
    export_by_default: bool = False  # built by ``livefilter export`` without --backend
