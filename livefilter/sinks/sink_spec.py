"""What one kind of output is (:class:`SinkSpec`) and what it is opened with (:class:`SinkOptions`):
the data the output registry holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

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
