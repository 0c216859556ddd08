"""The device pipeline's CUDA streams, created once per process and device.

``torch.cuda.Stream()`` hands out streams from a small round-robin pool; taking new ones for every
pipeline cycles through that pool (and shares its streams with anything else that draws from it).
Every pipeline of a process uses these two instead: the face stream (upload, face stage) at normal
priority and the compute stream (styling, download, latency-critical) at high priority. Two
pipelines in one process share them, which only serialises their work; their own events keep the
order.
"""

from __future__ import annotations

import functools
from typing import NamedTuple


class PipelineStreams(NamedTuple):
    face: object  # torch.cuda.Stream
    compute: object


@functools.lru_cache(maxsize=None)
def pipeline_streams(device: str) -> PipelineStreams:
    import torch

    dev = torch.device(device)
    _, high = torch.cuda.Stream.priority_range()  # (least, greatest): greatest is the high priority
    return PipelineStreams(torch.cuda.Stream(device=dev), torch.cuda.Stream(device=dev, priority=high))
