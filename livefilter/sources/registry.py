"""The one registry of input kinds: how ``--input`` names each, what PyAV is told, how it opens.

:func:`parse_input` asks it which kind an ``--input`` string is and builds the
:class:`~livefilter.sources.spec.InputSpec`; ``sources/open_input.py`` opens it (through the decoder
table, ``sources/decoders.py``). Add a kind with :func:`register_source`; the built-in ones (camera,
screen, url, file) are in ``builtin_sources.py``. Kinds are tried in registration order; the one
without ``matches`` (a file path) takes whatever no other kind claims.
"""

from __future__ import annotations

import platform

from livefilter.errors import InputError
from livefilter.infra.registry import Registry
from livefilter.sources.builtin_sources import BUILTIN_SOURCES
from livefilter.sources.source_kind import InputParser, SourceOpener, SourceSpec
from livefilter.sources.spec import InputSpec

REGISTRY: Registry[SourceSpec] = Registry("input", key="kind", error=InputError)  # by kind, in matching order
register_source = REGISTRY.register
specs = REGISTRY.specs
get = REGISTRY.find


def spec_for(value: str) -> SourceSpec:
    """The kind of a (stripped, non-empty) ``--input`` string."""
    spec = REGISTRY.first(lambda s: s.matches is not None and s.matches(value))
    fallback = REGISTRY.first(lambda s: s.matches is None)
    if spec is not None:
        return spec
    if fallback is None:
        raise InputError(f"unknown --input {value!r}")
    return fallback


def parse_input(
    value: str,
    *,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    system: str | None = None,
) -> InputSpec:
    """Classify an input (camera index / device path, file, stream URL, ``screen`` ... : the kinds of
    ``sources/registry.py``) into what PyAV opens; a capture device is asked for ``size`` and ``fps``."""
    system = system or platform.system()
    value = value.strip()
    if not value:
        raise InputError("--input is empty")
    kind = spec_for(value)
    spec = kind.parse(value, system)
    spec.live = kind.live
    if kind.captures:
        if size:
            spec.options["video_size"] = f"{size[0]}x{size[1]}"
        if fps:
            spec.options["framerate"] = f"{fps:g}"
    return spec


for _spec in BUILTIN_SOURCES:
    register_source(_spec)

__all__ = ["InputParser", "SourceOpener", "SourceSpec", "get", "parse_input", "register_source", "spec_for", "specs"]
