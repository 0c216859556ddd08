"""Soak: the full pipeline on a looping real video, memory and latency sampled over time."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

from benchmarks.machine import machine_info
from livefilter.infra.atomic import write_text
from livefilter.pipeline.session import PipelineSettings, build_pipeline
from livefilter.sinks.null_sink import NullSink
from livefilter.sources import open_source, parse_input
from livefilter.infra.stats import StageStats


@dataclass
class SoakSample:
    t: float
    rss_mb: float
    frames: int
    e2e_p50: float
    e2e_p99: float


@dataclass
class SoakReport:
    video: str
    duration_s: float
    frames: int
    samples: list[SoakSample]

    @property
    def rss_start_mb(self) -> float:
        return self.samples[0].rss_mb

    @property
    def rss_end_mb(self) -> float:
        return self.samples[-1].rss_mb

    def memory_growth_mb(self) -> float:
        """RSS growth from the first to the last quarter of the run (medians, robust to spikes)."""
        q = max(1, len(self.samples) // 4)
        return float(np.median([s.rss_mb for s in self.samples[-q:]]) - np.median([s.rss_mb for s in self.samples[:q]]))

    def latency_drift(self) -> float:
        """Ratio of p99 latency in the last quarter to the first quarter."""
        q = max(1, len(self.samples) // 4)
        first = np.median([s.e2e_p99 for s in self.samples[:q]])
        last = np.median([s.e2e_p99 for s in self.samples[-q:]])
        return float(last / first) if first > 0 else float("nan")

    def to_dict(self) -> dict:
        return {
            "video": self.video, "duration_s": self.duration_s, "frames": self.frames,
            "rss_start_mb": self.rss_start_mb, "rss_end_mb": self.rss_end_mb,
            "memory_growth_mb": self.memory_growth_mb(), "latency_drift": self.latency_drift(),
            "machine": machine_info(), "samples": [asdict(s) for s in self.samples],
        }


def run_soak(video: str, duration: float, interval: float = 5.0, look: str | None = None,
             warmup_s: float = 5.0) -> SoakReport:
    """Loop ``video`` through the pipeline for ``duration`` seconds after a warm-up."""
    proc = psutil.Process()
    stats = StageStats(window=512)
    pipeline = build_pipeline(PipelineSettings(look=look), stats=stats)
    source = open_source(parse_input(video), loop=True)
    samples: list[SoakSample] = []
    stop = threading.Event()
    try:
        pipeline.run(source, NullSink(), duration=warmup_s)
        t0 = time.perf_counter()
        frames0 = stats.frames = 0

        def sampler():
            while not stop.wait(interval):
                p = stats.percentiles("end_to_end")
                samples.append(SoakSample(time.perf_counter() - t0, proc.memory_info().rss / 2**20,
                                          stats.frames - frames0, p["p50"], p["p99"]))
                stats.samples.pop("end_to_end", None)  # each sample covers one interval

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        pipeline.run(source, NullSink(), duration=duration)
        stop.set()
        th.join()
    finally:
        source.close()
    return SoakReport(video=Path(video).name, duration_s=duration, frames=stats.frames, samples=samples)


def write_report(report: SoakReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, json.dumps(report.to_dict(), indent=2) + "\n")
