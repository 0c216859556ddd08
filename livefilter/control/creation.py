"""Look creation from the control panel: uploaded photos -> a new look, made in the background.

The panel uploads photos one request each (raw image bytes, size- and count-limited within limits reserved
atomically, checked by their headers on arrival and kept in memory only; the pixels are decoded by the
creation worker), then starts the creation; it runs on one low-priority
worker thread with one onnxruntime thread, so the pipeline thread is never waited on and the stream
keeps its frames. The panel polls :meth:`CreationService.status` for progress; when the look is
installed the controller's look list is refreshed, so it appears in the gallery.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable

from livefilter.control.controller import ControlError, Controller
from livefilter.errors import LivefilterError
from livefilter.looks.photos import MAX_PHOTO_BYTES, PhotoRejected, check_photo

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 12 << 20
MAX_UPLOADS = 30
MAX_TOTAL_BYTES = 120 << 20
MAX_PANEL_FINETUNE_MINUTES = 5.0
STOP_WAIT_S = 20.0  # how long a stopping run waits for the creation worker to finish its current step
STAGE_WEIGHTS = {"finding faces": (0.0, 0.55), "measuring": (0.55, 0.6), "fine-tuning": (0.6, 0.9),
                 "writing the look": (0.9, 1.0)}


class Busy(ControlError):
    status = 409


class TooLarge(ControlError):
    status = 413


def _clean_name(name: Any) -> str:
    """A display name for an upload: printable, at most 80 characters, no path."""
    text = str(name or "photo")[-200:].replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if c.isprintable())[:80]
    return text or "photo"


class CreationService:
    """One creation at a time for one control server."""

    def __init__(self, controller: Controller, creator_factory: Callable[[], Any] | None = None) -> None:
        self.controller = controller
        self._factory = creator_factory
        self._creator = None
        self._lock = threading.Lock()
        self._photos: list[tuple[str, bytes, str]] = []  # name, data, sha256
        self._reserved = (0, 0)  # (photos, bytes) being checked right now, counted against the limits
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._status: dict[str, Any] = {"state": "idle", "stage": "", "progress": 0.0, "message": "", "look": None,
                                        "rejected": []}

    # -- photos ---------------------------------------------------------------------------------------
    def add_photo(self, name: Any, data: bytes) -> dict[str, Any]:
        """Keep one uploaded photo. Its place within the count and size limits is reserved atomically before
        it is checked (concurrent uploads can never together pass the limits), and it is checked by its
        header only (format, dimensions): no pixel is decoded on the request thread; the creation worker
        decodes the photos, at its low priority, when the look is made."""
        name = _clean_name(name)
        with self._lock:
            self._idle_or_raise()
            if len(self._photos) + self._reserved[0] >= MAX_UPLOADS:
                raise TooLarge(f"at most {MAX_UPLOADS} photos per look")
            if sum(len(p[1]) for p in self._photos) + self._reserved[1] + len(data) > MAX_TOTAL_BYTES:
                raise TooLarge(f"the photos of one look may hold at most {MAX_TOTAL_BYTES >> 20} MiB")
            self._reserved = (self._reserved[0] + 1, self._reserved[1] + len(data))
        try:
            sha = check_photo(data, name)
        except PhotoRejected as e:
            raise ControlError(str(e)) from None
        finally:
            with self._lock:
                self._reserved = (self._reserved[0] - 1, self._reserved[1] - len(data))
        with self._lock:
            self._idle_or_raise()
            if all(p[2] != sha for p in self._photos):
                self._photos.append((name, data, sha))
            if self._status["state"] in ("done", "failed"):
                self._status.update(state="idle", message="", look=None, rejected=[], progress=0.0, stage="")
            return {"photos": len(self._photos)}

    def clear(self) -> dict[str, Any]:
        with self._lock:
            self._idle_or_raise()
            self._photos.clear()
            self._status.update(state="idle", stage="", progress=0.0, message="", look=None, rejected=[])
            return {"photos": 0}

    def _idle_or_raise(self) -> None:
        if self._status["state"] == "running":
            raise Busy("a look is being created; wait until it is done")

    # -- creation -------------------------------------------------------------------------------------
    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        from livefilter.looks.create import CreateOptions

        allowed = {"name", "title", "strength", "regions", "finetune"}
        extra = set(body) - allowed
        if extra:
            raise ControlError(f"unknown field(s) {', '.join(sorted(extra))}; expected {', '.join(sorted(allowed))}")
        name, title = body.get("name"), body.get("title", "")
        strength, regions, finetune = body.get("strength", 1.0), body.get("regions"), body.get("finetune", 0)
        if not isinstance(name, str) or not isinstance(title, str):
            raise ControlError("name and title must be strings")
        if isinstance(strength, bool) or not isinstance(strength, (int, float)):
            raise ControlError("strength must be a number between 0 and 1")
        if isinstance(finetune, bool) or not isinstance(finetune, (int, float)) or not 0 <= finetune <= MAX_PANEL_FINETUNE_MINUTES:
            raise ControlError(f"finetune must be 0..{MAX_PANEL_FINETUNE_MINUTES:g} minutes")
        if regions is not None and (not isinstance(regions, list) or not all(isinstance(r, str) for r in regions)):
            raise ControlError("regions must be a list of region names")
        opts = CreateOptions(name=name, title=title.strip(), strength=float(strength),
                             regions=tuple(regions) if regions is not None else None, finetune_minutes=float(finetune))
        with self._lock:
            self._idle_or_raise()
            try:
                opts.validate(self.controller.registry)
            except LivefilterError as e:
                raise ControlError(str(e)) from None
            if len(self._photos) < 3:
                raise ControlError(f"add at least 3 photos first ({len(self._photos)} so far)")
            photos = [(n, d) for n, d, _ in self._photos]
            self._cancel.clear()
            self._status.update(state="running", stage="starting", progress=0.0, message="", look=None, rejected=[],
                                started=time.time())
            self._thread = threading.Thread(target=self._run, args=(photos, opts), name="livefilter-create",
                                            daemon=True)
            self._thread.start()
            return self.status_locked()

    def _progress(self, stage: str, done: float, total: float) -> None:
        lo, hi = STAGE_WEIGHTS.get(stage, (0.0, 1.0))
        frac = lo + (hi - lo) * (done / total if total else 1.0)
        with self._lock:
            self._status.update(stage=stage, progress=round(max(self._status["progress"], frac), 3))

    def _run(self, photos: list[tuple[str, bytes]], opts) -> None:
        try:  # Linux: nice this thread only, so the pipeline thread always wins the CPU
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        try:
            if self._creator is None:
                from livefilter.looks.create import LookCreator

                self._creator = self._factory() if self._factory else LookCreator(self.controller.registry, threads=1)
            result = self._creator.create(photos, opts, self._progress, cancel=self._cancel)
            self.controller.looks(refresh=True)
            with self._lock:
                self._photos.clear()
                self._status.update(state="done", stage="done", progress=1.0, look=result.look.name,
                                    title=result.look.title,
                                    message=f"created from {result.used} photos in {result.seconds:.0f} s",
                                    rejected=[r.reason for r in result.rejected])
        except LivefilterError as e:
            with self._lock:
                self._status.update(state="failed", stage="", message=str(e))
        except Exception as e:  # noqa: BLE001 - report, keep serving; the stream is unaffected
            log.exception("look creation failed")
            with self._lock:
                self._status.update(state="failed", stage="", message=f"internal error: {type(e).__name__}")

    def status_locked(self) -> dict[str, Any]:
        s = dict(self._status)
        s["photos"] = [n for n, _, _ in self._photos]
        s.pop("started", None)
        return s

    def status(self) -> dict[str, Any]:
        with self._lock:
            return self.status_locked()

    def stop(self, timeout: float = STOP_WAIT_S) -> bool:
        """Cancel a running creation and wait for its worker to leave the network (it checks the cancel
        between evaluations): a process that exits while a worker thread is inside onnxruntime aborts
        ("terminate called without an active exception"). True when no worker is left running."""
        self._cancel.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        return thread is None or not thread.is_alive()


__all__ = ["MAX_PHOTO_BYTES", "MAX_UPLOAD_BYTES", "MAX_UPLOADS", "CreationService"]
