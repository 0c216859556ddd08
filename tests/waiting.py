"""Waiting for something another thread or process does (never a timing assertion: a generous limit)."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float = 20.0, what: str = "condition", *, tolerate: tuple = ()):
    """``condition()``'s first truthy value; exceptions in ``tolerate`` count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except tolerate as e:
            last, value = e, None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last!r})" if last else ""))
