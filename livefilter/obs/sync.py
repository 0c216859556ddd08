"""Opt-in (``--obs-sync-input NAME``): set the measured added latency as a microphone's Sync Offset.

Set once per connection, after ``settle_s`` seconds of frames (so start-up does not count), with
obs-websocket's ``SetInputAudioSyncOffset``; a change of the offset mid-stream would be heard, so it
is not chased afterwards. The value is the one the panel and the run summary advise.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from livefilter.infra.latency import OutputLatency
from livefilter.obs.link import ObsLink, ObsRequestError
from livefilter.infra.terminal_text import shortened

log = logging.getLogger(__name__)

RESOURCE_NOT_FOUND = 600  # obs-websocket RequestStatus::ResourceNotFound


class SyncOffsetTask:
    def __init__(self, input_name: str, latency: OutputLatency, *, notify: Callable[[str], None] | None = None,
                 settle_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.input_name = input_name
        self.latency = latency
        self.notify = notify or (lambda msg: log.warning("%s", msg))
        self.settle_s = settle_s
        self.clock = clock
        self.applied_ms: int | None = None
        self._pending = False
        self._since: float | None = None

    def status(self) -> dict:
        return {"input": self.input_name, "applied_ms": self.applied_ms}

    def on_connected(self, link: ObsLink) -> None:
        try:
            link.request("GetInputAudioSyncOffset", {"inputName": self.input_name})
        except ObsRequestError as e:
            self._pending = False
            if e.code == RESOURCE_NOT_FOUND:
                self.notify(f"OBS has no audio input named {shortened(repr(self.input_name))}{_inputs_hint(link)}; "
                            "the Sync Offset is left alone")
            else:
                self.notify(f"cannot read the Sync Offset of OBS input {shortened(repr(self.input_name))}: {e}")
            return
        self._pending = True
        self._since = None

    def tick(self, link: ObsLink) -> None:
        if not self._pending:
            return
        offset = self.latency.sync_offset_ms()
        if offset is None:
            return
        now = self.clock()
        if self._since is None:
            self._since = now
        if now - self._since < self.settle_s:
            return
        try:
            link.request("SetInputAudioSyncOffset", {"inputName": self.input_name, "inputAudioSyncOffset": offset})
        except ObsRequestError as e:
            self._pending = False
            self.notify(f"cannot set the Sync Offset of OBS input {shortened(repr(self.input_name))}: {e}")
            return
        self._pending = False
        self.applied_ms = offset
        self.notify(f"set the Sync Offset of OBS input {shortened(repr(self.input_name))} to {offset} ms "
                    f"(livefilter's added latency, median of the last {self.latency.window_s:g} s)")


def _inputs_hint(link: ObsLink) -> str:
    try:
        inputs = link.request("GetInputList").get("inputs", [])
    except Exception:  # noqa: BLE001 - only a hint
        return ""
    if not isinstance(inputs, list):
        return ""
    names = [shortened(i.get("inputName"), 40) for i in inputs if isinstance(i, dict) and i.get("inputName")]
    return f" (inputs: {', '.join(names[:12])})" if names else ""
