"""The control server's transport and security: a loopback HTTP server and the request checks every
route runs behind (see :mod:`livefilter.control.server` for the rules).

:class:`SecureHandler` answers every request in one place: the Host and Origin checks, the token,
bounded bodies, strict JSON, the one-line JSON errors and the security headers; a subclass
(:class:`livefilter.control.routes.Handler`) only says what each path does. Standard library only.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from livefilter.control.controller import ControlError
from livefilter.errors import SettingError

log = logging.getLogger("livefilter.control.server")

HOST = "127.0.0.1"
MAX_BODY_BYTES = 16 << 10


class GuardedApp(Protocol):
    """What the checks ask of the application behind the server (:class:`livefilter.control.server.ControlServer`)."""

    def allowed_hosts(self) -> set[str]: ...

    def allowed_origins(self) -> set[str]: ...

    def token_ok(self, candidate: str) -> bool: ...


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoopbackServer(ThreadingHTTPServer):
    """One thread per connection, daemon threads, a short backlog; problems logged once per kind."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 16
    app: GuardedApp

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


class SecureHandler(BaseHTTPRequestHandler):
    """Every request checked, dispatched to :meth:`_get` / :meth:`_post`, and answered in one line on failure."""

    server: LoopbackServer
    protocol_version = "HTTP/1.1"
    server_version = "livefilter-control"
    sys_version = ""
    timeout = 30  # idle keep-alive connections are closed after this

    # -- plumbing --------------------------------------------------------------------------------------
    @property
    def app(self) -> GuardedApp:
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

    def _get(self, path: str) -> None:
        raise HTTPError(404, "not found")

    def _post(self, path: str) -> None:
        raise HTTPError(404, "not found")

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(405, json.dumps({"error": f"method {self.command} not allowed"}).encode(), "application/json",
                   {"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _not_allowed  # noqa: N815

