"""``livefilter run --obs``: the OBS link, the scene policy and the Sync Offset task, wired together.

:func:`prepare` checks the options before anything starts (a bad URL or an unreadable password file
is a one-line error); :meth:`ObsPlan.start` connects in the background once the pipeline exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from livefilter.control.controller import Controller
from livefilter.errors import SettingError
from livefilter.infra.latency import OutputLatency, sync_advice
from livefilter.obs.link import ObsLink
from livefilter.obs.scenes import SceneLooks
from livefilter.obs.sync import SyncOffsetTask
from livefilter.obs.target import ObsTarget, read_password_file
from livefilter.settings.userconfig import ConfigStore, ObsSettings


@dataclass(frozen=True)
class ObsPlan:
    target: ObsTarget
    settings: ObsSettings
    sync_input: str | None = None

    def start(self, controller: Controller, latency: OutputLatency, notify: Callable[[str], None]) -> "ObsRun":
        scenes = SceneLooks(controller, self.settings, notify)
        sync = SyncOffsetTask(self.sync_input, latency, notify=notify) if self.sync_input else None
        link = ObsLink(self.target, scenes.on_scene, notify=notify, tasks=(sync,) if sync else ())
        run = ObsRun(link, controller, sync)
        controller.add_state_source("obs", run.status)
        link.start()
        return run


class ObsRun:
    def __init__(self, link: ObsLink, controller: Controller, sync: SyncOffsetTask | None) -> None:
        self.link = link
        self.controller = controller
        self.sync = sync

    def status(self) -> dict:
        return {**self.link.status(), "sync": self.sync.status() if self.sync else None}

    def close(self) -> None:
        self.controller.remove_state_source("obs")
        self.link.close()


def notify_line(console) -> Callable[[str], None]:
    """Print each OBS message as one line (its text may hold scene names: printed escaped)."""
    from rich.markup import escape

    from livefilter.obs.link import MAX_MESSAGE
    from livefilter.infra.terminal_text import shortened

    return lambda message: console.print(f"[magenta]OBS[/] {escape(shortened(message, MAX_MESSAGE))}",
                                         highlight=False, soft_wrap=True)


def latency_summary(latency: OutputLatency) -> str:
    """The run summary's audio-sync line."""
    s = latency.summary()
    advice = sync_advice(s["sync_offset_ms"])
    if advice is None:
        return "added latency: too few frames to measure"
    return (f"added latency (capture -> output) p50 {s['p50_ms']:.0f} ms over the last {s['window_s']:g} s: "
            f"{advice} (OBS: Audio Mixer -> Advanced Audio Properties)")


def prepare(url: str | None, password_file: str | None, sync_input: str | None,
            store: ConfigStore | None = None) -> ObsPlan | None:
    if url is None:
        if password_file is not None or sync_input is not None:
            raise SettingError("--obs-password-file and --obs-sync-input need --obs ws://127.0.0.1:4455")
        return None
    if sync_input is not None and (not sync_input.strip() or not sync_input.isprintable() or len(sync_input) > 256):
        raise SettingError(f"--obs-sync-input must be the name of an OBS audio input, got {sync_input!r}")
    password = read_password_file(password_file) if password_file is not None else None
    target = ObsTarget.parse(url, password)
    return ObsPlan(target, (store or ConfigStore()).load().obs, sync_input)
