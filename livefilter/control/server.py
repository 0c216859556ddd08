"""The local control server: a JSON API, a Server-Sent Events state stream and the control panel page.

Three parts: this module (:class:`ControlServer`: lifecycle, the shared state cache, look previews),
:mod:`livefilter.control.transport` (the loopback server and the checks below, for every request) and
:mod:`livefilter.control.routes` (what each path does).

Standard library only (``http.server`` with one thread per connection, in the background), so it can
never block the pipeline thread: every request only reads the pipeline's state or calls
``Pipeline.update()`` through the :class:`~livefilter.control.controller.Controller`.

Security (it changes what goes out on a live stream, so no other program or web page may use it):

- binds 127.0.0.1 only, on a port the OS picks (port 0) unless told otherwise;
- a random token (``secrets.token_urlsafe(24)``) is required on every request, as
  ``Authorization: Bearer TOKEN`` or ``X-Livefilter-Token: TOKEN``; GET requests (the page, its
  files, images and the event stream, which a browser cannot send headers for) may carry it as
  ``?token=TOKEN`` instead. No token: 401; a wrong token: 403;
- the Host header must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (DNS-rebinding defence) and an
  Origin header, when sent, must be ``http://127.0.0.1:PORT`` or ``http://localhost:PORT``: 403 otherwise;
- request bodies are small JSON objects (at most 16 KiB), validated before anything changes.
  The one exception is a photo for a new look (``POST /api/create/photo``): raw image bytes with
  an ``image/*`` type, at most 12 MiB, validated as an image before it is kept (see
  ``livefilter/control/creation.py`` for the count and size limits).
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import socket
import threading
import time
from pathlib import Path

from livefilter.control.controller import Controller
from livefilter.control.creation import CreationService
from livefilter.control.preview import PreviewTap
from livefilter.control.routes import MAX_EVENT_STREAMS, Handler
from livefilter.control.transport import HOST, HTTPError, LoopbackServer
from livefilter.errors import SettingError
from livefilter.looks.pack import MAX_PREVIEW_BYTES

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
STATE_CACHE_S = 0.1


def _image_type(data: bytes) -> str | None:
    """The content type of a look preview, from its first bytes (only raster formats are served)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class ControlServer:
    """``ControlServer(controller).start()``; then ``.url`` is the panel's address (token included)."""

    def __init__(self, controller: Controller, *, preview: PreviewTap | None = None, port: int = 0,
                 token: str | None = None, web_dir: Path = WEB_DIR, creation: CreationService | None = None) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise SettingError(f"control port must be 0..65535 (0: any free port), got {port!r}")
        if token is not None and (not isinstance(token, str) or len(token) < 16):
            raise SettingError("control token must be at least 16 characters")
        self.controller = controller
        self.preview = preview if preview is not None else PreviewTap()
        self.token = token or secrets.token_urlsafe(24)
        self._token_bytes = self.token.encode()
        self.web_dir = Path(web_dir)
        self._requested_port = port
        self._httpd: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self._state_lock = threading.Lock()
        self._state: tuple[float, bytes] | None = None
        self.streams = threading.BoundedSemaphore(MAX_EVENT_STREAMS)
        self._look_previews: dict[str, tuple[float, bytes, str]] = {}
        self.creation = creation if creation is not None else CreationService(controller)

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "ControlServer":
        if self._httpd is not None:
            return self
        try:
            httpd = LoopbackServer((HOST, self._requested_port), Handler)
        except OSError as e:
            raise SettingError(f"cannot start the control server on {HOST}:{self._requested_port}: {e.strerror or e}") from None
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="livefilter-control", daemon=True)
        self._thread.start()
        log.info("control server on %s", self.base_url)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.creation.stop()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            # shutdown() waits for serve_forever's next poll; a throwaway connection wakes it at once.
            closer = threading.Thread(target=httpd.shutdown, daemon=True)
            closer.start()
            try:
                socket.create_connection(httpd.server_address[:2], timeout=0.5).close()
            except OSError:
                pass
            closer.join(2.0)
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(2.0)

    def __enter__(self) -> "ControlServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        if self._httpd is None:
            raise RuntimeError("control server is not running")
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The control panel's address, token included (print it for the user; keep it private)."""
        return f"{self.base_url}/?token={self.token}"

    # -- checks ----------------------------------------------------------------------------------------
    def allowed_hosts(self) -> set[str]:
        port = self.port
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def allowed_origins(self) -> set[str]:
        return {f"http://{h}" for h in self.allowed_hosts()}

    def token_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self._token_bytes)

    # -- shared, cached state ----------------------------------------------------------------------------
    def state_json(self, fresh: bool = False) -> bytes:
        """The state as JSON, computed at most every ``STATE_CACHE_S`` however many clients ask."""
        with self._state_lock:
            now = time.monotonic()
            if fresh or self._state is None or now - self._state[0] >= STATE_CACHE_S:
                body = json.dumps(self.controller.state(), allow_nan=False, separators=(",", ":")).encode()
                self._state = (now, body)
            return self._state[1]

    def look_preview(self, name: str) -> tuple[bytes, str]:
        look = self.controller.find_look(name)
        path = look.preview_path
        if path is None:
            raise HTTPError(404, f"look '{look.name}' has no preview image")
        try:
            st = path.stat()
            cached = self._look_previews.get(look.name)
            if cached is not None and cached[0] == st.st_mtime:
                return cached[1], cached[2]
            if st.st_size > MAX_PREVIEW_BYTES:
                raise HTTPError(404, f"look '{look.name}': preview image is too large")
            data = path.read_bytes()
        except OSError:
            raise HTTPError(404, f"look '{look.name}': preview image cannot be read") from None
        ctype = _image_type(data)
        if ctype is None:
            raise HTTPError(404, f"look '{look.name}': preview is not a JPEG, PNG or WebP image")
        self._look_previews[look.name] = (st.st_mtime, data, ctype)
        return data, ctype


def start_control_server(pipeline, registry=None, *, preview: PreviewTap | None = None, port: int = 0,
                         profiles=None) -> ControlServer:
    """Start the control server for ``pipeline`` in the background and return it."""
    controller = Controller.for_pipeline(pipeline, registry, profiles)
    return ControlServer(controller, preview=preview, port=port).start()
