"""The local control server: a JSON API, a Server-Sent Events state stream and the control panel page.

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
import re
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from livefilter.control.controller import ControlError, Controller
from livefilter.control.creation import MAX_UPLOAD_BYTES, CreationService
from livefilter.control.preview import PreviewTap
from livefilter.errors import SettingError
from livefilter.looks.pack import MAX_PREVIEW_BYTES

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
HOST = "127.0.0.1"
MAX_BODY_BYTES = 16 << 10
EVENT_INTERVAL_S = 0.25
STATE_CACHE_S = 0.1
MAX_EVENT_STREAMS = 8
STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "create.js": "text/javascript; charset=utf-8",
    "create.css": "text/css; charset=utf-8",
}
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
TOKEN_PLACEHOLDER = "{{TOKEN}}"
_FACE_PATH = re.compile(r"^/api/faces/(-?\d{1,10})$")
CREATE_ROUTES = ("/api/create/photo", "/api/create/clear", "/api/create/start")
_LOOK_PREVIEW_PATH = re.compile(r"^/api/looks/([^/]{1,64})/preview\.jpg$")


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _image_type(data: bytes) -> str | None:
    """The content type of a look preview, from its first bytes (only raster formats are served)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 16
    app: "ControlServer"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._logged_kinds: set[str] = set()
        self._log_lock = threading.Lock()

    def log_once(self, kind: str, message: str) -> None:
        """One warning line per kind of problem for the server's lifetime (a reset storm is one line)."""
        with self._log_lock:
            first = kind not in self._logged_kinds
            self._logged_kinds.add(kind)
        if first:
            log.warning("control server: %s (logged once)", message)
        else:
            log.debug("control server: %s", message)

    def handle_error(self, request, client_address) -> None:
        """A connection that failed outside a handler (a client reset, a timeout): one line, no traceback."""
        err = sys.exc_info()[1]
        kind = type(err).__name__
        if isinstance(err, (ConnectionError, TimeoutError)):
            self.log_once(kind, f"a client dropped its connection ({kind})")
        else:
            self.log_once(kind, f"a connection failed: {kind}: {err}")
        log.debug("control server: connection error", exc_info=err)


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
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self._state_lock = threading.Lock()
        self._state: tuple[float, bytes] | None = None
        self._streams = threading.BoundedSemaphore(MAX_EVENT_STREAMS)
        self._look_previews: dict[str, tuple[float, bytes, str]] = {}
        self.creation = creation if creation is not None else CreationService(controller)

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "ControlServer":
        if self._httpd is not None:
            return self
        try:
            httpd = _Server((HOST, self._requested_port), _Handler)
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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "livefilter-control"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are closed after this

    # -- plumbing --------------------------------------------------------------------------------------
    @property
    def app(self) -> ControlServer:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        # Never log request lines: they may hold the token.
        pass

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("control server: " + format, *args)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        extra = {"WWW-Authenticate": 'Bearer realm="livefilter"'} if status == 401 else None
        body = json.dumps({"error": message}).encode()
        if status >= 400 and self.command == "POST":
            # An unread request body would be taken for the next request on this connection.
            self.close_connection = True
        self._send(status, body, "application/json", extra)

    # -- checks (run before anything else, for every request) ---------------------------------------
    def _check_request(self, method: str) -> tuple[str, dict[str, list[str]]]:
        app = self.app
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in app.allowed_hosts():
            raise HTTPError(403, "forbidden Host header (use http://127.0.0.1:PORT or http://localhost:PORT)")
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in app.allowed_origins():
            raise HTTPError(403, "cross-origin requests are not allowed")
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        token = None
        auth = self.headers.get("Authorization")
        if auth is not None:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise HTTPError(401, "Authorization header must be 'Bearer TOKEN'")
            token = value.strip()
        elif self.headers.get("X-Livefilter-Token") is not None:
            token = self.headers["X-Livefilter-Token"].strip()
        elif method == "GET" and "token" in query:
            token = query["token"][0]
        if not token:
            raise HTTPError(401, "missing token: send 'Authorization: Bearer TOKEN' (or ?token=TOKEN on a GET)")
        if not app.token_ok(token):
            raise HTTPError(403, "wrong token")
        return parts.path, query

    def _read_json(self) -> dict[str, Any]:
        raw = self._read_body(MAX_BODY_BYTES)

        def no_constants(name: str):
            raise ValueError(f"{name} is not allowed")

        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, ValueError) as e:
            raise HTTPError(400, f"invalid JSON body: {e}") from None
        except RecursionError:  # e.g. 5,000 nested brackets: far deeper than any request of this API
            raise HTTPError(400, "invalid JSON body: nested too deeply") from None
        if not isinstance(data, dict):
            raise HTTPError(400, "the JSON body must be an object, e.g. {\"value\": 0.5}")
        return data

    def _read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise HTTPError(411, "send a Content-Length (chunked bodies are not accepted)")
        length_s = self.headers.get("Content-Length")
        if length_s is None:
            raise HTTPError(411, "a JSON body with a Content-Length is required")
        if not (length_s.isascii() and length_s.isdigit()) or len(length_s) > 12:  # int() takes "1_0", "+5", " 5 "
            raise HTTPError(400, "bad Content-Length")
        length = int(length_s)
        if length > limit:
            raise HTTPError(413, f"request body too large (at most {limit} bytes)")
        raw = self.rfile.read(length)
        if len(raw) != length:
            raise HTTPError(400, "request body ended early")
        return raw

    @staticmethod
    def _field(body: dict[str, Any], key: str) -> Any:
        extra = set(body) - {key}
        if extra:
            raise HTTPError(400, f"unknown field(s) {', '.join(sorted(extra))}; expected {{\"{key}\": ...}}")
        if key not in body:
            raise HTTPError(400, f"missing field '{key}'")
        return body[key]

    # -- dispatch ------------------------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        try:
            path, query = self._check_request(method)
            if method == "GET":
                self._get(path)
            else:
                self._post(path)
        except HTTPError as e:
            self._error(e.status, e.message)
        except ControlError as e:
            self._error(e.status, str(e))
        except SettingError as e:
            self._error(400, str(e))
        except (ConnectionError, TimeoutError) as e:  # the client went away mid-request
            self.close_connection = True
            self.server.log_once(type(e).__name__, f"a client dropped its connection ({type(e).__name__})")
        except Exception as e:  # noqa: BLE001 - answer, log, keep serving; the pipeline is unaffected
            route = urlsplit(self.path).path
            self.server.log_once(f"{method} {route} {type(e).__name__}", f"{method} {route} failed: {type(e).__name__}: {e}")
            log.debug("control server: %s %s failed", method, route, exc_info=True)
            try:
                self._error(500, f"internal error: {type(e).__name__}")
            except OSError:
                self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(405, json.dumps({"error": f"method {self.command} not allowed"}).encode(), "application/json",
                   {"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed  # noqa: N815

    # -- GET -------------------------------------------------------------------------------------------------
    def _get(self, path: str) -> None:
        app = self.app
        if path in ("/", "/index.html"):
            self._page()
        elif path.startswith("/static/") and path[len("/static/"):] in STATIC_FILES:
            name = path[len("/static/"):]
            try:
                data = (app.web_dir / name).read_bytes()
            except OSError:
                raise HTTPError(404, f"{name} is missing from the installation") from None
            self._send(200, data, STATIC_FILES[name])
        elif path == "/api/state":
            self._send(200, app.state_json(), "application/json")
        elif path == "/api/create/status":
            self._json(200, app.creation.status())
        elif path == "/api/events":
            self._events()
        elif path == "/api/preview.jpg":
            got = app.preview.jpeg()
            if got is None:
                raise HTTPError(503, "no frame has been processed yet")
            data, seq = got
            self._send(200, data, "image/jpeg", {"X-Frame-Seq": str(seq)})
        elif m := _LOOK_PREVIEW_PATH.match(path):
            data, ctype = app.look_preview(unquote(m.group(1)))
            self._send(200, data, ctype)
        elif path.startswith("/api/"):
            raise HTTPError(404, f"no such endpoint: GET {path}")
        else:
            raise HTTPError(404, "not found")

    def _page(self) -> None:
        try:
            html = (self.app.web_dir / "index.html").read_text("utf-8")
        except OSError:
            raise HTTPError(404, "the control panel page is missing from the installation") from None
        body = html.replace(TOKEN_PLACEHOLDER, self.app.token).encode()
        self._send(200, body, "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_CSP})

    def _events(self) -> None:
        """Server-Sent Events: the state as ``data: {json}`` about 4 times a second."""
        app = self.app
        if not app._streams.acquire(blocking=False):
            raise HTTPError(503, f"too many open event streams (at most {MAX_EVENT_STREAMS})")
        try:
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Connection", "close")
            self._common_headers()
            self.end_headers()
            self.wfile.write(b"retry: 1000\n\n")
            while not app.stopping.is_set():
                self.wfile.write(b"data: " + app.state_json() + b"\n\n")
                self.wfile.flush()
                if app.stopping.wait(EVENT_INTERVAL_S):
                    break
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            pass
        finally:
            app._streams.release()

    # -- POST ------------------------------------------------------------------------------------------------
    def _post(self, path: str) -> None:
        ctl = self.app.controller
        routes = {"/api/look", "/api/strength", "/api/edits", "/api/scene", "/api/pause", "/api/profile/save", "/api/profile/load"}
        face = _FACE_PATH.match(path)
        if path in CREATE_ROUTES:
            self._json(200, self._create(path))
            return
        if path not in routes and face is None:
            raise HTTPError(404, f"no such endpoint: POST {path}")
        body = self._read_json()
        result: dict[str, Any] = {"ok": True}
        if path == "/api/look":
            ctl.set_look(self._field(body, "name"))
        elif path == "/api/strength":
            ctl.set_strength(self._field(body, "value"))
        elif path == "/api/edits":
            if not body:
                raise HTTPError(400, "give at least one of brightness, contrast, saturation, warmth")
            ctl.set_edits(body)
        elif path == "/api/scene":
            ctl.set_scene(body)
        elif path == "/api/pause":
            ctl.set_paused(self._field(body, "paused"))
        elif path == "/api/profile/save":
            result["profile"] = ctl.save_profile(self._field(body, "name")).to_json()
        elif path == "/api/profile/load":
            result["profile"] = ctl.load_profile(self._field(body, "name")).to_json()
        elif face is not None:
            ctl.set_face(int(face.group(1)), self._field(body, "enabled"))
        result["state"] = json.loads(self.app.state_json(fresh=True))
        self._json(200, result)

    def _create(self, path: str) -> dict[str, Any]:
        """New-look card: a photo upload (raw image bytes), clearing the photos, or starting the creation."""
        creation = self.app.creation
        if path == "/api/create/photo":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if not ctype.startswith("image/"):
                raise HTTPError(415, "upload a photo as the request body with an image/* Content-Type")
            data = self._read_body(MAX_UPLOAD_BYTES)
            return {"ok": True} | creation.add_photo(unquote(self.headers.get("X-Filename") or "photo"), data)
        body = self._read_json()
        if path == "/api/create/clear":
            return {"ok": True} | creation.clear()
        return {"ok": True, "status": creation.start(body)}


def start_control_server(pipeline, registry=None, *, preview: PreviewTap | None = None, port: int = 0,
                         profiles=None) -> ControlServer:
    """Start the control server for ``pipeline`` in the background and return it."""
    controller = Controller.for_pipeline(pipeline, registry, profiles)
    return ControlServer(controller, preview=preview, port=port).start()
