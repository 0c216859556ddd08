"""The control server's routes: the panel page and its files, the JSON API, the event stream and the
new-look uploads. Every request reaches them only after :class:`~livefilter.control.transport.SecureHandler`
has checked it."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from livefilter.control.creation import MAX_UPLOAD_BYTES
from livefilter.control.transport import HTTPError, SecureHandler

EVENT_INTERVAL_S = 0.25
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


class Handler(SecureHandler):
    """What each path of the control server does."""

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
        if not app.streams.acquire(blocking=False):
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
            app.streams.release()

    # -- POST ------------------------------------------------------------------------------------------------
    def _post(self, path: str) -> None:
        ctl = self.app.controller
        routes = {"/api/look", "/api/strength", "/api/finish", "/api/edits", "/api/scene", "/api/pause",
                  "/api/profile/save", "/api/profile/load"}
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
        elif path == "/api/finish":
            ctl.set_finish(body)
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


