"""``open_output``: the ``--output`` a run writes to, measured and, when live, never blocking the run."""

from __future__ import annotations

from dataclasses import dataclass

from livefilter.infra.latency import OutputLatency
from livefilter.protocols import Sink
from livefilter.reliability.threaded_sink import ThreadedSink
from livefilter.sinks.latency_probe import LatencyProbeSink
from livefilter.sinks.registry import SinkOptions, SinkSpec, spec_for


@dataclass
class Output:
    """An opened output: ``sink`` is what the pipeline writes to (close it to finalise the output)."""

    spec: SinkSpec
    sink: Sink
    threaded: ThreadedSink | None  # the writer thread of a live output, None for a file

    @property
    def dropped(self) -> int | None:
        """Frames a live output's consumer was too slow for (None: nothing is dropped)."""
        return None if self.threaded is None else self.threaded.dropped

    def close(self) -> None:
        self.sink.close()


def open_output(output: str, options: SinkOptions, latency: OutputLatency) -> Output:
    """Open ``output`` (its registered kind), time every write into ``latency`` (capture -> output),
    and give a live output its own writer thread: a blocked consumer drops frames instead of
    stalling the pipeline."""
    spec = spec_for(output)
    measured = LatencyProbeSink(spec.open(output.strip(), options), latency)
    if not spec.live:
        return Output(spec, measured, None)
    threaded = ThreadedSink(measured)
    return Output(spec, threaded, threaded)
