"""Ctrl-C and SIGTERM, handled from the first moment the command starts (standard library only, so it
can be installed before anything heavy is imported).

- During start-up (:func:`install` until :func:`started`: imports, nothing to undo yet) a signal is
  only recorded; :func:`started` then exits at once with the conventional code.
- Outside a run loop a signal raises :class:`Interrupted` in the main thread: whatever is under way
  unwinds through its ``finally`` blocks (outputs are finalised or discarded, never left half-done).
- Inside :func:`deferred` (a run loop) the first signal only sets the returned event, so the loop
  ends after the current frame and the outputs are finalised normally; a second one raises.
- Either way the process then exits with the conventional code, 128 + the signal number
  (130 for SIGINT, 143 for SIGTERM): see :func:`exit_code`.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)

_stop = threading.Event()
_received: list[int] = []  # the first signal that arrived, if any
_deferring = 0  # > 0 while a run loop finalises by itself
_installed = False
_starting_done = False


class Interrupted(KeyboardInterrupt):
    """A signal arrived while no run loop was listening (handled everywhere like Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handler(signum: int, frame) -> None:
    first = not _received
    if first:
        _received.append(signum)
    _stop.set()
    if _deferring and first:
        return  # the run loop sees the event and finalises
    raise Interrupted(signum)


def install() -> None:
    """Install the handlers, in start-up mode (main thread only; idempotent). Call it before anything
    heavy is imported, then :func:`started` once the program can unwind cleanly."""
    global _installed, _deferring
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _deferring += 1  # start-up: record only
    for sig in HANDLED:
        signal.signal(sig, _handler)
    _installed = True


def started() -> None:
    """End of start-up: from now on a signal outside a run loop raises :class:`Interrupted`; one that
    arrived during start-up raises it now."""
    global _deferring, _starting_done
    if not _installed or _starting_done:
        return
    _starting_done = True
    _deferring -= 1
    if _received:
        raise Interrupted(_received[0])


def received() -> int | None:
    """The first signal received since start-up, or None."""
    return _received[0] if _received else None


def name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    return 128 + int(signum)


@contextmanager
def deferred() -> Iterator[threading.Event]:
    """An Event set by the first Ctrl-C / SIGTERM; while inside, that signal does not raise.

    Where :func:`install` has not run (livefilter used as a library), the handlers are installed for
    the duration of the block only, and the previous ones restored afterwards. Off the main thread
    nothing is intercepted.
    """
    global _deferring
    previous: dict[int, object] = {}
    if not _installed and threading.current_thread() is threading.main_thread():
        reset()
        previous = {sig: signal.signal(sig, _handler) for sig in HANDLED}
    _deferring += 1
    try:
        yield _stop
    finally:
        _deferring -= 1
        for sig, h in previous.items():
            signal.signal(sig, h)


def reset() -> None:
    """Forget received signals (for in-process callers that run several commands)."""
    _received.clear()
    _stop.clear()
