"""The one registry of input kinds: how ``--input`` names each, what PyAV is told, how it opens.

``sources/spec.py`` ``parse_input`` asks it which kind an ``--input`` string is and builds the
:class:`~livefilter.sources.spec.InputSpec`; ``sources/open_input.py`` opens it (through the decoder
table, ``sources/decoders.py``). Add a kind with :func:`register_source`; the built-in ones (camera,
screen, url, file) are in ``builtin_sources.py``. Kinds are tried in registration order; the one
without ``matches`` (a file path) takes whatever no other kind claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from livefilter.errors import InputError

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


REGISTRY: dict[str, SourceSpec] = {}  # by kind, in matching order (use register_source)


def register_source(spec: SourceSpec) -> SourceSpec:
    """Add (or replace) an input kind; it is tried after those registered before it, before the fallback."""
    if not spec.kind or any(c.isspace() for c in spec.kind):
        raise ValueError(f"invalid input kind {spec.kind!r}")
    REGISTRY[spec.kind] = spec
    return spec


def specs() -> list[SourceSpec]:
    return list(REGISTRY.values())


def get(kind: str) -> SourceSpec | None:
    return REGISTRY.get(kind)


def spec_for(value: str) -> SourceSpec:
    """The kind of a (stripped, non-empty) ``--input`` string."""
    fallback = None
    for spec in REGISTRY.values():
        if spec.matches is None:
            fallback = fallback or spec
        elif spec.matches(value):
            return spec
    if fallback is None:
        raise InputError(f"unknown --input {value!r}")
    return fallback


from livefilter.sources import builtin_sources  # noqa: E402,F401  (registers the built-in inputs)
