"""What one kind of input is (:class:`SourceSpec`): the data the input registry holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from livefilter.protocols import Source
    from livefilter.sources.spec import InputSpec

InputParser = Callable[[str, str], "InputSpec"]  # (the stripped --input string, operating system) -> spec
# (spec, size the decoder scales to or None, loop a file) -> an opened source
SourceOpener = Callable[["InputSpec", "tuple[int, int] | None", bool], "Source"]


def _pyav(spec: "InputSpec", size: tuple[int, int] | None, loop: bool) -> "Source":
    from livefilter.sources.pyav_source import open_source

    return open_source(spec, size=size, loop=loop)


@dataclass(frozen=True)
class SourceSpec:
    """One kind of input."""

    kind: str
    parse: InputParser
    matches: Callable[[str], bool] | None  # given the stripped --input string; None: the fallback kind
    live: bool = True  # paced by the world: the newest frame is kept, a lost input is reconnected
    captures: bool = False  # a capture device: --size / --fps are asked of it (else the decoder scales to --size)
    open: SourceOpener = _pyav  # the CPU decoder (``--decode cpu``)
