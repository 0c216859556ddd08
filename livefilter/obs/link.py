"""A lasting connection to OBS's WebSocket server (obs-websocket, protocol v5), via ``obsws-python``.

:class:`ObsLink` runs on its own thread and never touches the video: it reports OBS's program scene
(on connecting and on every ``CurrentProgramSceneChanged`` event) to ``on_scene`` and runs its
tasks (the audio Sync Offset) while connected. When OBS quits or the connection drops it reconnects
with exponential back-off. Each problem is reported once, as one line, through ``notify``; a problem
that trying again cannot fix (a wrong password) ends the link, and the run goes on without OBS.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Callable, Protocol

from livefilter.obs.problems import ObsProblem, classify
from livefilter.obs.target import ObsTarget
from livefilter.infra.terminal_text import shortened

log = logging.getLogger(__name__)
MAX_MESSAGE = 400  # characters of one OBS line on the terminal

# obsws-python logs the password at INFO and full tracebacks for a refused connection; livefilter
# reports every connection problem itself, as one line.
logging.getLogger("obsws_python").setLevel(logging.CRITICAL)

EVENT_POLL_S = 0.2
STABLE_S = 10.0  # a connection that lasted this long resets the back-off
# an event flood (a misbehaving plugin, a hostile peer) must not starve the pipeline: above this many
# events a second the event thread pauses between messages (TCP pushes back on the sender) and scene
# changes are coalesced to the newest one, applied from the link's own thread
MAX_EVENTS_PER_S = 100
FLOOD_PAUSE_S = 0.005
SCENE_MIN_INTERVAL_S = 0.05  # scene changes are applied at most this often (the newest one wins)


@functools.lru_cache(maxsize=1)
def _event_client_class():
    """obsws-python's ``EventClient`` with a worker that survives what OBS (or something pretending to be
    it) may send: non-JSON or binary frames, a missing ``d``, a list for ``eventData``. Each kind of bad
    message is reported once by its link; the worker keeps reading, so the connection (and its back-off)
    stays as it is instead of dying with a traceback every reconnect."""
    import json
    import time

    import obsws_python as obsws
    from websocket import WebSocketConnectionClosedException, WebSocketTimeoutException

    class RobustEventClient(obsws.EventClient):
        link: "ObsLink | None" = None

        def trigger(self, stop_event):  # the worker thread's body (obsws-python's name)
            window, count = time.monotonic(), 0
            while not stop_event.is_set():
                try:
                    raw = self.base_client.ws.recv()
                except (WebSocketConnectionClosedException, WebSocketTimeoutException, OSError):
                    stop_event.set()
                    break
                except Exception as e:  # noqa: BLE001 - a broken frame: report it, end this connection
                    self._bad("unreadable frame", e)
                    stop_event.set()
                    break
                now = time.monotonic()
                if now - window >= 1.0:
                    window, count = now, 0
                count += 1
                if count > MAX_EVENTS_PER_S:
                    time.sleep(FLOOD_PAUSE_S)
                if not raw:
                    continue
                try:
                    event = json.loads(raw)
                    d = event["d"] if isinstance(event, dict) else None
                    if not isinstance(d, dict):
                        raise ValueError("no 'd' object")
                    kind, data = d.get("eventType"), d.get("eventData")
                    if not isinstance(kind, str) or not (data is None or isinstance(data, dict)):
                        raise ValueError("eventType/eventData of the wrong type")
                except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
                    self._bad("malformed event", e)
                    continue
                link = self.link
                if link is not None:
                    link._event(kind, data or {})

        def _bad(self, kind: str, error: BaseException) -> None:
            if self.link is not None:
                self.link._bad_message(kind, error)

    return RobustEventClient


class LinkTask(Protocol):
    """Work done on the link's thread while connected (so it never waits on the pipeline)."""

    def on_connected(self, link: "ObsLink") -> None: ...

    def tick(self, link: "ObsLink") -> None: ...


class ObsRequestError(Exception):
    """OBS answered a request with an error (``code`` is obs-websocket's RequestStatus)."""

    def __init__(self, request: str, code: int | None, comment: str) -> None:
        super().__init__(f"{request}: {shortened(comment, 200) if comment else 'failed'}"
                         + (f" (code {code})" if code is not None else ""))
        self.code = code


class ConnectionLost(Exception):
    pass


class ObsLink:
    def __init__(self, target: ObsTarget, on_scene: Callable[[str], None], *,
                 notify: Callable[[str], None] | None = None, tasks: tuple[LinkTask, ...] = (),
                 backoff_s: tuple[float, float] = (0.5, 10.0), timeout_s: float = 3.0) -> None:
        self.target = target
        self.on_scene = on_scene
        self.notify = notify or (lambda msg: log.warning("%s", msg))
        self.tasks = tuple(tasks)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.state = "starting"  # starting | connected | waiting | failed | closed
        self.scene: str | None = None
        self.problem: str | None = None
        self.connections = 0
        self._stop = threading.Event()
        self._req = None
        self._events = None
        self._req_lock = threading.Lock()
        self._last_message: str | None = None
        self._pending_scene: str | None = None
        self._problem_kind: str | None = None  # the last connection problem reported
        self._wake = threading.Event()  # a scene arrived (or the link closes)
        self.bad_messages: dict[str, int] = {}  # kind -> count
        self._thread = threading.Thread(target=self._run, name="livefilter-obs", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> "ObsLink":
        self._thread.start()
        return self

    def close(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._wake.set()
        self._disconnect()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.state = "closed"

    def status(self) -> dict[str, Any]:
        """For the control panel's state."""
        return {"url": self.target.url, "state": self.state, "scene": self.scene, "problem": self.problem}

    # -- requests -----------------------------------------------------------------------------------
    def request(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one obs-websocket request; its responseData (``{}`` if none)."""
        from obsws_python.error import OBSSDKError, OBSSDKRequestError

        with self._req_lock:
            req = self._req
            if req is None:
                raise ConnectionLost("not connected to OBS")
            try:
                return req.send(request_type, data, raw=True) or {}
            except OBSSDKRequestError as e:
                raise ObsRequestError(request_type, e.code, str(e).partition("With message: ")[2]) from None
            except (OBSSDKError, OSError, ValueError) as e:  # timeouts, a closed socket
                raise ConnectionLost(f"{type(e).__name__}: {e}") from None
            except Exception as e:  # websocket-client's own exceptions
                raise ConnectionLost(f"{type(e).__name__}: {e}") from None

    # -- the link's thread --------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        message = shortened(message, MAX_MESSAGE)  # OBS's own text may be anything: one bounded line
        if message != self._last_message:
            self._last_message = message
            try:
                self.notify(message)
            except Exception:  # noqa: BLE001 - reporting must never end the link
                log.exception("OBS notify failed")

    def _run(self) -> None:
        delay, max_delay = self.backoff_s
        while not self._stop.is_set():
            try:
                self._connect()
            except ObsProblem as problem:
                self.problem = problem.message
                if problem.kind != self._problem_kind:  # once per kind: its text may vary between tries
                    self._problem_kind = problem.kind
                    self._say(problem.message)
                if not problem.retry:
                    self.state = "failed"
                    self._say("livefilter goes on without OBS control")
                    return
                self.state = "waiting"
                if self._stop.wait(delay):
                    break
                delay = min(max_delay, delay * 2)
                continue
            except Exception as e:  # noqa: BLE001 - the link's thread never dies silently
                self._disconnect()
                self.state, self.problem = "waiting", f"unexpected {type(e).__name__} from the OBS connection"
                self._say(f"{self.problem}; reconnecting")
                if self._stop.wait(delay):
                    break
                delay = min(max_delay, delay * 2)
                continue
            self.problem = self._problem_kind = None
            self._say(f"connected to OBS at {self.target.url}"
                      + (f" (scene '{shortened(self.scene)}')" if self.scene else ""))
            self._tasks_connected()  # after the line above: their own lines read in order
            since = time.monotonic()
            self._serve()
            self._disconnect()
            if self._stop.is_set():
                break
            self.state = "waiting"
            self._say("lost the connection to OBS; reconnecting")
            # the back-off starts again only after a connection that held: one that OBS (or a peer) keeps
            # dropping at once is retried ever more slowly, not every half second forever
            if time.monotonic() - since >= STABLE_S:
                delay = self.backoff_s[0]
            else:
                if self._stop.wait(delay):
                    break
                delay = min(max_delay, delay * 2)

    def _connect(self) -> None:
        import obsws_python as obsws

        kwargs = {"host": self.target.host, "port": self.target.port, "password": self.target.password or "",
                  "timeout": self.timeout_s}
        try:
            req = obsws.ReqClient(**kwargs)
        except Exception as e:  # noqa: BLE001 - every failure becomes one ObsProblem line
            raise classify(e, self.target) from None
        client = _event_client_class()
        try:
            events = client(subs=obsws.Subs.SCENES | obsws.Subs.GENERAL, **kwargs)
        except Exception as e:  # noqa: BLE001
            _quietly(req.disconnect)
            raise classify(e, self.target) from None
        events.link = self
        with self._req_lock:
            self._req, self._events = req, events
        self.connections += 1
        self.state = "connected"
        try:
            current = self.request("GetCurrentProgramScene")
            if not isinstance(current, dict):
                raise ObsRequestError("GetCurrentProgramScene", None, "OBS sent a reply that is not an object")
            self._scene_changed(current.get("currentProgramSceneName") or current.get("sceneName"))
        except ConnectionLost:
            pass  # noticed by _serve
        except ObsRequestError as e:
            self._bad_message("unexpected reply", e)

    def _tasks_connected(self) -> None:
        for task in self.tasks:
            try:
                task.on_connected(self)
            except ConnectionLost:
                return  # noticed by _serve
            except ObsRequestError as e:
                self._bad_message("unexpected reply", e)
            except Exception:  # noqa: BLE001 - a task must never end the link
                log.exception("OBS task failed")

    # -- events (called on the event thread) ---------------------------------------------------------
    def _event(self, kind: str, data: dict) -> None:
        if kind == "CurrentProgramSceneChanged":
            name = data.get("sceneName")
            if isinstance(name, str):
                self._pending_scene = name  # coalesced: only the newest scene matters
                self._wake.set()
        elif kind == "ExitStarted":
            log.info("OBS is quitting")

    def _bad_message(self, kind: str, error: BaseException) -> None:
        """One line per kind of bad message from OBS, however many arrive."""
        self.bad_messages[kind] = self.bad_messages.get(kind, 0) + 1
        if self.bad_messages[kind] == 1:
            self._say(f"OBS sent a {kind} ({shortened(f'{type(error).__name__}: {error}', 120)}); ignoring it"
                      " and any more like it")

    def _scene_changed(self, name: Any) -> None:
        if not isinstance(name, str):
            return
        self.scene = name
        try:
            self.on_scene(name)
        except Exception:  # noqa: BLE001 - a scene switch must never end the link
            log.exception("scene change to %r failed", name)

    def _serve(self) -> None:
        """Until the connection drops or the link is closed: apply the newest scene, run the tasks."""
        while not self._stop.is_set():
            events = self._events
            if events is None or not events.worker.is_alive():
                return
            pending, self._pending_scene = self._pending_scene, None
            if pending is not None:
                self._scene_changed(pending)
                if self._stop.wait(SCENE_MIN_INTERVAL_S):  # more events meanwhile: only the newest counts
                    return
            for task in self.tasks:
                try:
                    task.tick(self)
                except ConnectionLost:
                    return
                except Exception:  # noqa: BLE001 - a task must never end the link
                    log.exception("OBS task failed")
            self._wake.wait(EVENT_POLL_S)
            self._wake.clear()

    def _disconnect(self) -> None:
        with self._req_lock:
            req, events = self._req, self._events
            self._req = self._events = None
        if events is not None:
            _quietly(events.base_client.ws.close)
            worker = getattr(events, "worker", None)
            if worker is not None and worker is not threading.current_thread():
                worker.join(1.0)
        if req is not None:
            _quietly(req.disconnect)


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - closing a dead connection
        pass
