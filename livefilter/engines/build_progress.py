"""TensorRT's build phases as a terminal progress bar (``IProgressMonitor``, TensorRT 10 and 11).

An engine build takes tens of seconds the first time a look runs on a GPU (and again after a
driver or TensorRT update). The builder reports its phases and steps through an
``IProgressMonitor``; this draws them with rich on stderr, one task per phase, removed when done.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def make_monitor(trt, progress):
    """An ``IProgressMonitor`` that mirrors every build phase as a task of ``progress`` (rich)."""

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.tasks: dict[str, int] = {}
            self.phases_seen: list[str] = []

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.phases_seen.append(phase_name)
            indent = "  " if parent_phase else ""
            self.tasks[phase_name] = progress.add_task(f"{indent}{phase_name}", total=max(int(num_steps), 1))

        def step_complete(self, phase_name, step):
            task = self.tasks.get(phase_name)
            if task is not None:
                progress.update(task, completed=int(step) + 1)
            return True  # never cancel the build

        def phase_finish(self, phase_name):
            task = self.tasks.pop(phase_name, None)
            if task is not None:
                progress.remove_task(task)

    return Monitor()


class BuildProgressBar:
    """``with BuildProgressBar(trt, title) as bar: config.progress_monitor = bar.monitor``."""

    def __init__(self, trt, title: str, enabled: bool = True) -> None:
        self.trt, self.title, self.enabled = trt, title, enabled
        self.monitor = None
        self._progress = None

    def __enter__(self) -> "BuildProgressBar":
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from rich.errors import LiveError

        progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=True)
        try:
            progress.start()
        except LiveError:  # the caller shows its own live status (e.g. `livefilter export`): no bar
            log.info("%s", self.title)
            return self
        self._progress = progress
        self._progress.add_task(self.title, total=None)
        self.monitor = make_monitor(self.trt, self._progress)
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
