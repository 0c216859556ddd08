"""Why OBS cannot be reached, as one line a streamer can act on, and whether trying again can help."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import psutil

from livefilter.obs.target import ObsTarget

OBS_PROCESS_NAMES = {"obs", "obs64.exe", "obs32.exe", "obs.exe", "obs-studio"}
WEBSOCKET_SETTINGS = "Tools → WebSocket Server Settings"


@dataclass(frozen=True)
class ObsProblem(Exception):
    message: str
    retry: bool  # False: trying again cannot help (a wrong password), so the run stops trying
    kind: str = "other"  # what went wrong, for reporting each kind once however its text varies

    def __str__(self) -> str:
        return self.message


def obs_process_running() -> bool:
    """Whether an OBS Studio process runs on this machine (to tell "not running" from "server off")."""
    for proc in psutil.process_iter(["name"]):
        name = (proc.info.get("name") or "").lower()
        if name in OBS_PROCESS_NAMES:
            return True
    return False


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refused(target: ObsTarget) -> ObsProblem:
    if not _is_local(target.host):
        return ObsProblem(f"nothing answers at {target.url}: is OBS running there with its WebSocket server "
                          f"enabled ({WEBSOCKET_SETTINGS})?", retry=True, kind="refused")
    if obs_process_running():
        return ObsProblem(f"OBS is running but its WebSocket server is off or not on port {target.port}: "
                          f"{WEBSOCKET_SETTINGS} → Enable WebSocket server", retry=True, kind="server off")
    return ObsProblem(f"OBS is not running (nothing answers at {target.url}); livefilter connects when it starts",
                      retry=True, kind="not running")


def classify(exc: BaseException, target: ObsTarget) -> ObsProblem:
    """Map what obsws-python / websocket-client raised while connecting to an :class:`ObsProblem`."""
    import websocket
    from obsws_python.error import OBSSDKError

    if isinstance(exc, ObsProblem):
        return exc
    if isinstance(exc, ConnectionRefusedError):
        return refused(target)
    if isinstance(exc, socket.gaierror):
        return ObsProblem(f"cannot find the OBS host {target.host!r} ({exc.strerror or exc})", retry=False,
                          kind="host")
    if isinstance(exc, (TimeoutError, socket.timeout, websocket.WebSocketTimeoutException)):
        return ObsProblem(f"no answer from {target.url} in time: is it OBS 28 or newer (obs-websocket 5)?",
                          retry=True, kind="timeout")
    if isinstance(exc, OBSSDKError):
        text = str(exc)
        if "no password" in text:
            return ObsProblem(f"OBS asks for a password: pass --obs-password-file FILE (the password is under "
                              f"{WEBSOCKET_SETTINGS} → Show Connect Info)", retry=False)
        if target.password:
            return ObsProblem(f"OBS refused the password from --obs-password-file (see {WEBSOCKET_SETTINGS} → "
                              f"Show Connect Info)", retry=False)
        return ObsProblem(f"OBS refused the connection: {text}", retry=False)
    if isinstance(exc, (ValueError, KeyError, TypeError, websocket.WebSocketBadStatusException,
                        websocket.WebSocketProtocolException, websocket.WebSocketPayloadException)):
        return ObsProblem(f"{target.url} is not an OBS WebSocket server (protocol v5)", retry=False, kind="not obs")
    if isinstance(exc, (OSError, websocket.WebSocketException)):
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ObsProblem(f"connection to OBS at {target.url} failed: {reason}", retry=True, kind="connection")
    return ObsProblem(f"connection to OBS at {target.url} failed: {type(exc).__name__}", retry=True,
                      kind="connection")
