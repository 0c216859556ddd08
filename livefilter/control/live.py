"""What ``livefilter run`` needs for live control, in one object: server, preview tap, hotkeys.

While the server runs, its address and token are also written to the user data folder (readable by
this user only), so that local tools (an OBS script, a chat bot) can find the current port and token
by themselves: each run writes its own ``control-PID.json`` and points ``control.json`` at itself (the
newest run). Each run removes only its own files when it ends; if ``control.json`` was its own and
another run is still going, ``control.json`` is pointed back at that run. A fixed token for tools
that cannot read files (a Stream Deck button) can be given in the ``LIVEFILTER_CONTROL_TOKEN``
environment variable (at least 16 characters), with a fixed ``--control-port``.

By default the port and token are this user's stable ones (:mod:`livefilter.control.endpoint`), so
an OBS dock's URL keeps working across runs; when that port is taken, the run uses a free port and
says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from livefilter.control.controller import Controller
from livefilter.control.endpoint import Endpoint, stable_endpoint
from livefilter.control.hotkeys import hotkey_handler
from livefilter.control.preview import PreviewTap
from livefilter.control.server import ControlServer
from livefilter.errors import SettingError
from livefilter.settings.store import JsonFile
from livefilter.infra.paths import user_data_dir

log = logging.getLogger(__name__)
MAX_CONTROL_FILE = 64 * 1024  # a control file is a few hundred bytes

TOKEN_ENV = "LIVEFILTER_CONTROL_TOKEN"


def control_info_path(pid: int | None = None) -> Path:
    """Where a running ``livefilter run`` publishes its control URL and token: ``control.json`` (the
    newest run), or ``control-PID.json`` for the run with process id ``pid``."""
    return user_data_dir() / ("control.json" if pid is None else f"control-{int(pid)}.json")


def control_file(path: Path) -> JsonFile:
    """A control file: private (it holds the token), small, one line per problem."""
    return JsonFile(path, what="control file", max_bytes=MAX_CONTROL_FILE, private=True)


def read_control_info(pid: int | None = None) -> dict:
    """``{"url", "base_url", "port", "token", "pid"}`` of the running livefilter (for local tools):
    the newest run, or the one with process id ``pid``."""
    path = control_info_path(pid)
    info = control_file(path).read()
    if info is None:
        raise SettingError(f"livefilter is not running with its control server ({path} not found)")
    if not isinstance(info, dict):
        raise SettingError(f"cannot read {path}: not a livefilter control file")
    return info


def _token_from_env() -> str | None:
    token = os.environ.get(TOKEN_ENV)
    if token is None:
        return None
    token = token.strip()
    if len(token) < 16 or not token.isascii() or not token.isprintable() or " " in token:
        raise SettingError(f"{TOKEN_ENV} must be at least 16 printable characters without spaces")
    return token


class LiveControl:
    """``on_frame`` goes to ``Pipeline.run``, ``on_key`` to the preview sink; ``close()`` at the end."""

    def __init__(self, pipeline, registry=None, *, serve: bool = True, port: int | None = None,
                 profile: str | None = None, publish: bool = True) -> None:
        """``port`` None: this user's stable port and token; 0: any free port; N: that port."""
        self.controller = Controller.for_pipeline(pipeline, registry)
        if profile is not None:
            self.controller.active_profile = profile
        self.on_key: Callable[[str], None] = hotkey_handler(pipeline, registry)
        self.preview: PreviewTap | None = None
        self.server: ControlServer | None = None
        self._published: Path | None = None
        if serve:
            self.preview = PreviewTap()
            self.preview.pixel_format = pipeline.output_format
            self.preview.copy_frames = pipeline.reuses_output_buffers
            self.server = self._start_server(port)
            if publish:
                self._publish()

    def _start_server(self, port: int | None) -> ControlServer:
        env_token = _token_from_env()
        stable: Endpoint | None = None
        try:
            stable = stable_endpoint()
        except (SettingError, OSError) as e:  # a broken settings file must not stop the stream
            log.warning("no stable control address this run: %s", e)
        token = env_token or (stable.token if stable is not None else None)
        if port is None:
            if stable is not None:
                try:
                    return ControlServer(self.controller, preview=self.preview, port=stable.port, token=token).start()
                except SettingError as e:
                    log.warning("%s; using a free port this run (a saved OBS dock URL will not reach it)", e)
            port = 0
        return ControlServer(self.controller, preview=self.preview, port=port, token=token).start()

    @property
    def dock_url(self) -> str | None:
        """The compact panel for an OBS Custom Browser Dock."""
        return self.url + "&layout=dock" if self.url is not None else None

    @property
    def on_frame(self):
        return self.preview.offer if self.preview is not None else None

    @property
    def url(self) -> str | None:
        return self.server.url if self.server is not None else None

    def _publish(self) -> None:
        srv = self.server
        info = {"url": srv.url, "base_url": srv.base_url, "port": srv.port, "token": srv.token, "pid": os.getpid()}
        own = control_info_path(os.getpid())
        try:
            own.parent.mkdir(parents=True, exist_ok=True)
            # the newest run is the default for tools; written first, so a tool that sees this run's
            # own file appear already finds the default pointing at it
            self._published = own  # close() cleans up whichever of the two got written
            control_file(control_info_path()).write(info, indent=None)
            control_file(own).write(info, indent=None)
        except (OSError, SettingError) as e:  # tools can still be given the printed URL
            log.warning("cannot write %s: %s", own, e)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._published is not None:
            _unpublish(self._published)
            self._published = None


def _pid_of(path: Path) -> int | None:
    try:
        pid = control_file(path).read().get("pid")
    except (SettingError, AttributeError):  # missing, unreadable, not JSON, not an object
        return None
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


def _unpublish(own: Path) -> None:
    """Remove this run's files; ``control.json`` only if it is this run's (then point it at a run still
    going, if any). Another run's files are never touched."""
    import psutil

    me = os.getpid()
    try:
        own.unlink()
    except OSError:
        pass
    default = control_info_path()
    if _pid_of(default) != me:
        return
    others = []
    for p in own.parent.glob("control-*.json"):
        pid = _pid_of(p)
        if pid is not None and pid != me and p.name == f"control-{pid}.json" and psutil.pid_exists(pid):
            others.append((p.stat().st_mtime, p))
    try:
        if others:
            control_file(default).write(control_file(max(others)[1]).read(), indent=None)
        else:
            default.unlink()
    except (OSError, SettingError) as e:
        log.debug("control.json left as it is: %s", e)
