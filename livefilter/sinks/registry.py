"""The one registry of output kinds: how ``--output`` names each, how it opens, how ``run`` treats it.

Everything that knew outputs by name derives from here: ``sinks/factory.py`` (``output_kind``,
``open_sink``), ``sinks/output.py`` (``open_output``: the threaded wrap of live outputs), the checks
of ``run`` (``cli/run_checks.py``), and the ``--output`` help and error. Add one with
:func:`register_sink`; the built-in ones are in ``builtin_sinks.py``. An ``--output`` string is
the first registered kind whose ``matches`` accepts it.
"""

from __future__ import annotations

from livefilter.infra.terminal_text import listed
from livefilter.errors import SettingError
from livefilter.infra.registry import Registry
from livefilter.sinks.builtin_sinks import BUILTIN_SINKS
from livefilter.sinks.sink_spec import FormatChooser, SinkOpener, SinkOptions, SinkSpec

REGISTRY: Registry[SinkSpec] = Registry("output", key="kind")  # by kind, in matching order
register_sink = REGISTRY.register
specs = REGISTRY.specs


def spec_for(output: str) -> SinkSpec:
    """The kind of an ``--output`` string (checked before anything is opened), or a one-line error."""
    low = output.strip().lower()
    spec = REGISTRY.first(lambda s: s.matches(low))
    if spec is not None:
        return spec
    raise SettingError(f"unknown --output {output!r}: use {listed(tuple(s.described for s in specs()))}")


def help_text() -> str:
    """``virtualcam | obs | FILE.mp4 | ...`` for the --output option."""
    return " | ".join(s.syntax for s in specs()) + "."


for _spec in BUILTIN_SINKS:
    register_sink(_spec)

__all__ = ["FormatChooser", "SinkOpener", "SinkOptions", "SinkSpec", "help_text", "register_sink", "spec_for", "specs"]
