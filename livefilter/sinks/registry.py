"""The one registry of output kinds: how ``--output`` names each, how it opens, how ``run`` treats it.

Everything that knew outputs by name derives from here: ``sinks/factory.py`` (``output_kind``,
``open_sink``), ``sinks/output.py`` (``open_output``: the threaded wrap of live outputs), the checks
of ``run`` (``cli/run_checks.py``), and the ``--output`` help and error. Add one with
:func:`register_sink`; the built-in ones are in ``builtin_sinks.py``. An ``--output`` string is
the first registered kind whose ``matches`` accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from livefilter.choices import listed
from livefilter.errors import SettingError

if TYPE_CHECKING:
    from livefilter.protocols import Sink
    from livefilter.types import SourceInfo


@dataclass(frozen=True)
class SinkOptions:
    """What an output may be opened with, besides its ``--output`` string (each kind takes what it uses)."""

    info: "SourceInfo"  # the frames' size and rate
    overwrite: bool = False  # replace an existing output file
    stats: Any = None  # the pipeline's StageStats (the preview window shows them)
    vcam_backend: str | None = None  # pyvirtualcam backend
    vcam_device: str | None = None
    pixel_format: str | None = None  # what the virtual camera is fed (RGB, BGR, I420, NV12)
    on_key: Callable[[int], None] | None = None  # keys pressed in a window (the preview's hotkeys)
    inputs: tuple[str, ...] = ()  # input files, never to be written over


SinkOpener = Callable[[str, SinkOptions], "Sink"]  # (the stripped --output string, options) -> sink
# (the --output string, --pixel-format or None) -> the frame format it is fed: RGB, I420 or NV12 ...
FormatChooser = Callable[[str, "str | None"], str]


@dataclass(frozen=True)
class SinkSpec:
    """One kind of output."""

    kind: str
    matches: Callable[[str], bool]  # given the stripped, lower-cased --output string
    open: SinkOpener
    syntax: str  # how --output names it in the help: "FILE.mp4"
    described: str  # ... in the error for an --output nothing matches: "a file (.mp4/.mkv/.mov)"
    live: bool = True  # taken at its consumer's pace: a writer thread drops frames rather than stall the run
    path_target: bool = False  # --output is a path: refused before anything loads if it exists or is the input
    pixel_format: FormatChooser | None = None  # takes --pixel-format / --vcam-device (a virtual camera)
    hotkeys: bool = False  # reads the keyboard (``on_key``): run prints the hotkeys


REGISTRY: dict[str, SinkSpec] = {}  # by kind, in matching order (use register_sink)


def register_sink(spec: SinkSpec) -> SinkSpec:
    """Add (or replace) an output kind; a new kind is matched after those registered before it."""
    if not spec.kind or any(c.isspace() for c in spec.kind):
        raise ValueError(f"invalid output kind {spec.kind!r}")
    REGISTRY[spec.kind] = spec
    return spec


def specs() -> list[SinkSpec]:
    return list(REGISTRY.values())


def spec_for(output: str) -> SinkSpec:
    """The kind of an ``--output`` string (checked before anything is opened), or a one-line error."""
    low = output.strip().lower()
    for spec in REGISTRY.values():
        if spec.matches(low):
            return spec
    raise SettingError(f"unknown --output {output!r}: use {listed(tuple(s.described for s in specs()))}")


def help_text() -> str:
    """``virtualcam | obs | FILE.mp4 | ...`` for the --output option."""
    return " | ".join(s.syntax for s in specs()) + "."


from livefilter.sinks import builtin_sinks  # noqa: E402,F401  (registers the built-in outputs)
