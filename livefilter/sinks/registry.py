"""The one registry of output kinds: how ``--output`` names each, how it opens, how ``run`` treats it.

Everything that knew outputs by name derives from here: ``sinks/factory.py`` (``output_kind``,
``open_sink``), ``sinks/output.py`` (``open_output``: the threaded wrap of live outputs), the checks
of ``run`` (``cli/run_checks.py``), and the ``--output`` help and error. Add one with
:func:`register_sink`; the built-in ones are in ``builtin_sinks.py``. An ``--output`` string is
the first registered kind whose ``matches`` accepts it.
"""

from __future__ import annotations

from livefilter.settings.choices import listed
from livefilter.errors import SettingError
from livefilter.sinks.builtin_sinks import BUILTIN_SINKS
from livefilter.sinks.sink_spec import FormatChooser, SinkOpener, SinkOptions, SinkSpec

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


for _spec in BUILTIN_SINKS:
    register_sink(_spec)

__all__ = ["FormatChooser", "SinkOpener", "SinkOptions", "SinkSpec", "help_text", "register_sink", "spec_for", "specs"]
