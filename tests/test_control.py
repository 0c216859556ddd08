"""The live-control HTTP API, against a real pipeline (real ONNX looks, onnxruntime, blending).

Every change goes through the running server over real sockets and must show on the very next
processed frame; every rejected request must leave the pipeline's controls exactly as they were.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from fakes import FixedFaceTracker
from livefilter.control import ControlServer, Controller, PreviewTap, hotkey_handler
from livefilter.looks.pack import ColorEdits
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import LiveControls, Pipeline
from livefilter.settings.profiles import ProfileStore
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from onnx_looks import make_look


def make_frame(h: int = 400, w: int = 480) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = 60 + xx * 120 // w
    img[..., 1] = 80 + yy * 100 // h
    img[..., 2] = 140
    return img


def set_preview(look_dir, data: bytes, name: str = "preview.jpg") -> None:
    (look_dir / name).write_bytes(data)
    manifest = json.loads((look_dir / "look.json").read_text())
    manifest["preview"] = name
    (look_dir / "look.json").write_text(json.dumps(manifest))


@pytest.fixture
def looks_dir(tmp_path):
    d = tmp_path / "looks"
    make_look(d, "shift", kind="shift")
    make_look(d, "ident", kind="identity")
    ok, jpg = cv2.imencode(".jpg", np.full((48, 64, 3), (40, 90, 200), np.uint8))
    set_preview(d / "shift", jpg.tobytes())
    set_preview(d / "ident", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "preview.svg")
    return d


@pytest.fixture
def pipeline(looks_dir):
    reg = LookRegistry([looks_dir])
    p = Pipeline(FixedFaceTracker(), reg.get, lambda lk: OnnxRuntimeTranslator(lk, threads=1),
                 LiveControls(look="shift", strength=0.8), max_faces=2)
    p.registry = reg  # for the fixtures below
    return p


@pytest.fixture
def server(pipeline):
    ctl = Controller(pipeline, pipeline.registry, ProfileStore())
    srv = ControlServer(ctl, preview=PreviewTap(max_rate=5.0)).start()
    yield srv
    srv.stop()


class Client:
    def __init__(self, srv: ControlServer) -> None:
        self.srv = srv

    def request(self, method, path, body=None, *, token="header", headers=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        h = {}
        if token == "header":
            h["Authorization"] = f"Bearer {self.srv.token}"
        elif token == "x-header":
            h["X-Livefilter-Token"] = self.srv.token
        elif token is not None and token != "query":
            h["Authorization"] = f"Bearer {token}"
        if token == "query":
            path += ("&" if "?" in path else "?") + f"token={self.srv.token}"
        h.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if payload is not None:
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=payload, headers=h)
            res = conn.getresponse()
            data = res.read()
            return res.status, dict(res.getheaders()), data
        finally:
            conn.close()

    def json(self, method, path, body=None, **kw):
        status, headers, data = self.request(method, path, body, **kw)
        ctype = headers.get("Content-Type", "")
        assert ctype.startswith("application/json"), (status, ctype, data[:200])
        return status, json.loads(data)


@pytest.fixture
def client(server):
    return Client(server)


def styled_fraction(out: np.ndarray, frame: np.ndarray) -> float:
    return float(np.mean(np.any(out != frame, axis=2)))


# -- binding and access control ------------------------------------------------------------------------


def test_binds_loopback_only_on_an_os_chosen_port(server):
    host, port = server._httpd.socket.getsockname()[:2]
    assert host == "127.0.0.1" and port == server.port and port > 0
    assert server.url == f"http://127.0.0.1:{port}/?token={server.token}"
    assert len(server.token) >= 32
    # Not reachable on any other local address (when the machine has one).
    try:
        other = socket.gethostbyname(socket.gethostname())
    except OSError:
        other = None
    if other and not other.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((other, port), timeout=1).close()


def test_two_servers_get_different_ports_and_tokens(pipeline):
    ctl = Controller(pipeline, pipeline.registry)
    with ControlServer(ctl) as a, ControlServer(ctl) as b:
        assert a.port != b.port and a.token != b.token


@pytest.mark.parametrize("path", ["/api/state", "/", "/api/preview.jpg", "/api/looks/shift/preview.jpg",
                                  "/static/app.js", "/api/nope"])
def test_token_is_required_on_every_request(client, path):
    status, body = client.json("GET", path, token=None)
    assert status == 401 and "token" in body["error"]
    status, body = client.json("GET", path, token="x" * 32)
    assert status == 403 and body["error"] == "wrong token"


def test_token_header_variants(client):
    assert client.json("GET", "/api/state", token="header")[0] == 200
    assert client.json("GET", "/api/state", token="x-header")[0] == 200
    assert client.json("GET", "/api/state", token="query")[0] == 200
    status, body = client.json("GET", "/api/state", token=None, headers={"Authorization": "Basic abc"})
    assert status == 401


def test_query_token_is_not_accepted_for_changes(client, pipeline):
    before = pipeline.controls
    status, body = client.json("POST", "/api/strength", {"value": 0.1}, token="query")
    assert status == 401 and pipeline.controls is before


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}",
                                    "http://127.0.0.1.evil.example:{port}"])
def test_cross_origin_requests_are_refused(client, pipeline, origin):
    before = pipeline.controls
    origin = origin.format(port=client.srv.port)
    status, body = client.json("POST", "/api/strength", {"value": 0.1}, headers={"Origin": origin})
    assert status == 403 and "cross-origin" in body["error"]
    assert client.json("GET", "/api/state", headers={"Origin": origin})[0] == 403
    assert pipeline.controls is before


def test_same_origin_and_localhost_are_accepted(client):
    port = client.srv.port
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert client.json("POST", "/api/strength", {"value": 0.5}, headers={"Origin": origin})[0] == 200
    assert client.json("GET", "/api/state", headers={"Host": f"localhost:{port}"})[0] == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1", "127.0.0.1:1", "0.0.0.0:{port}",
                                  "[::1]:{port}"])
def test_foreign_host_header_is_refused_dns_rebinding(client, pipeline, host):
    before = pipeline.controls
    host = host.format(port=client.srv.port)
    status, body = client.json("POST", "/api/pause", {"paused": True}, headers={"Host": host})
    assert status == 403 and "Host" in body["error"]
    assert pipeline.controls is before


# -- changes take effect on the next processed frame ---------------------------------------------------


def test_changes_apply_on_the_next_processed_frame(client, pipeline):
    frame = make_frame()
    assert styled_fraction(pipeline.process(frame.copy()), frame) > 0.05  # the look is on

    status, body = client.json("POST", "/api/pause", {"paused": True})
    assert status == 200 and body["ok"] and body["state"]["paused"] is True
    assert np.array_equal(pipeline.process(frame.copy()), frame)
    assert client.json("POST", "/api/pause", {"paused": False})[0] == 200
    assert styled_fraction(pipeline.process(frame.copy()), frame) > 0.05

    assert client.json("POST", "/api/strength", {"value": 0})[0] == 200
    assert pipeline.controls.strength == 0.0
    assert np.array_equal(pipeline.process(frame.copy()), frame)  # strength 0: untouched
    assert client.json("POST", "/api/strength", {"value": 1})[0] == 200
    strong = pipeline.process(frame.copy())
    assert styled_fraction(strong, frame) > 0.05

    status, body = client.json("POST", "/api/look", {"name": "ident"})
    assert status == 200 and body["state"]["look"] == "ident" and pipeline.controls.look == "ident"
    ident = pipeline.process(frame.copy())
    assert np.abs(ident.astype(int) - frame).max() <= 2  # identity look: (almost) untouched
    assert client.json("POST", "/api/look", {"name": "shift"})[0] == 200

    status, body = client.json("POST", "/api/edits", {"brightness": 0.5, "warmth": -0.25})
    assert status == 200
    assert pipeline.controls.edits == ColorEdits(brightness=0.5, warmth=-0.25)
    brighter = pipeline.process(frame.copy())
    assert brighter.astype(int).sum() > strong.astype(int).sum()
    assert client.json("POST", "/api/edits", {"contrast": 0.1})[0] == 200  # partial: the rest is kept
    assert pipeline.controls.edits == ColorEdits(brightness=0.5, contrast=0.1, warmth=-0.25)


def test_switching_a_face_off_and_on(client, pipeline):
    frame = make_frame()
    pipeline.process(frame.copy())
    state = client.json("GET", "/api/state")[1]
    assert [(f["track_id"], f["enabled"]) for f in state["faces"]] == [(0, True)]
    status, body = client.json("POST", "/api/faces/0", {"enabled": False})
    assert status == 200 and pipeline.controls.disabled_tracks == frozenset({0})
    assert np.array_equal(pipeline.process(frame.copy()), frame)
    assert [(f["track_id"], f["enabled"]) for f in client.json("GET", "/api/state")[1]["faces"]] == [(0, False)]
    assert client.json("POST", "/api/faces/0", {"enabled": True})[0] == 200
    assert styled_fraction(pipeline.process(frame.copy()), frame) > 0.05


def test_state_reports_everything_the_panel_shows(client, pipeline):
    frame = make_frame()
    for _ in range(3):
        pipeline.process(frame.copy())
        pipeline.stats.frames += 1
    status, s = client.json("GET", "/api/state")
    assert status == 200
    assert s["look"] == "shift" and s["strength"] == 0.8 and s["paused"] is False
    assert s["edits"] == {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "warmth": 0.0}
    assert s["backend"] == "onnxruntime-cpu"
    assert [lk["name"] for lk in s["looks"]] == ["ident", "shift"]
    assert {lk["name"]: lk["has_preview"] for lk in s["looks"]} == {"ident": True, "shift": True}
    assert set(s["stages"]) >= {"detect", "align", "translate", "blend"}
    assert all(v["p50"] is not None and v["p99"] >= v["p50"] for v in s["stages"].values())
    assert isinstance(s["fps"], float) and s["frames"] == 3
    assert s["profile"] is None and s["profiles"] == []


# -- invalid input: 4xx with a message, pipeline untouched ------------------------------------------------


@pytest.mark.parametrize(
    "path, raw, status, message",
    [
        ("/api/strength", b'{"value": 1.5}', 400, "between 0 and 1"),
        ("/api/strength", b'{"value": -0.1}', 400, "between 0 and 1"),
        ("/api/strength", b'{"value": "0.5"}', 400, "between 0 and 1"),
        ("/api/strength", b'{"value": true}', 400, "between 0 and 1"),
        ("/api/strength", b'{"value": NaN}', 400, "invalid JSON"),
        ("/api/strength", b'{"value": 1e999}', 400, "between 0 and 1"),
        ("/api/strength", b'{"strength": 0.5}', 400, "unknown field"),
        ("/api/strength", b'{}', 400, "missing field 'value'"),
        ("/api/strength", b'{"value": 0.5', 400, "invalid JSON"),
        ("/api/strength", b'[0.5]', 400, "must be an object"),
        ("/api/strength", b'\xff\xfe', 400, "invalid JSON"),
        ("/api/look", b'{"name": "nope"}', 404, "unknown look 'nope' (available: ident, shift)"),
        ("/api/look", b'{"name": "../shift"}', 400, "look name"),
        ("/api/look", b'{"name": 3}', 400, "look name"),
        ("/api/edits", b'{"brightness": 2}', 400, "edits.brightness"),
        ("/api/edits", b'{"hue": 0.1}', 400, "unknown key"),
        ("/api/edits", b'{"brightness": 0.2, "warmth": -3}', 400, "edits.warmth"),
        ("/api/edits", b'{}', 400, "at least one"),
        ("/api/pause", b'{"paused": "yes"}', 400, "true or false"),
        ("/api/pause", b'{"paused": 1}', 400, "true or false"),
        ("/api/faces/0", b'{"enabled": "no"}', 400, "true or false"),
        ("/api/faces/-1", b'{"enabled": false}', 400, "non-negative"),
        ("/api/faces/abc", b'{"enabled": false}', 404, "no such endpoint"),
        ("/api/profile/save", b'{"name": "../../x"}', 400, "profile name"),
        ("/api/profile/load", b'{"name": "never-saved"}', 404, "unknown profile"),
        ("/api/nope", b'{}', 404, "no such endpoint"),
    ],
)
def test_invalid_requests_are_rejected_and_change_nothing(client, pipeline, path, raw, status, message):
    before = pipeline.controls
    got, body = client.json("POST", path, raw=raw)
    assert got == status and message in body["error"], body
    assert pipeline.controls is before
    assert client.json("GET", "/api/state")[0] == 200  # the server is still fine


def test_oversized_bodies_and_other_methods(client, pipeline):
    before = pipeline.controls
    status, body = client.json("POST", "/api/edits", raw=b'{"brightness": 0.1' + b" " * 20000 + b"}")
    assert status == 413 and "too large" in body["error"]
    for method in ("PUT", "DELETE", "PATCH"):
        assert client.json(method, "/api/strength", {"value": 0.3})[0] == 405
    assert pipeline.controls is before


def test_a_slow_look_load_never_blocks_the_pipeline_thread(looks_dir):
    """Loading a new look happens on the server's thread; frames keep flowing meanwhile."""
    reg = LookRegistry([looks_dir])

    frames_done = threading.Event()

    def factory(look):
        if look.name == "ident":  # a slow engine build: it finishes only once frames flowed meanwhile
            assert frames_done.wait(60), "the pipeline thread was blocked by the look load"
        return OnnxRuntimeTranslator(look, threads=1)

    p = Pipeline(FixedFaceTracker(), reg.get, factory, LiveControls(look="shift"), max_faces=1)
    with ControlServer(Controller(p, reg)) as srv:
        c = Client(srv)
        result = {}
        t = threading.Thread(target=lambda: result.update(r=c.json("POST", "/api/look", {"name": "ident"})))
        t.start()
        frame = make_frame()
        done = 0
        while t.is_alive():
            p.process(frame.copy())
            done += 1
            if done == 5:
                frames_done.set()
        t.join()
    assert result["r"][0] == 200 and p.controls.look == "ident"
    assert done >= 5


# -- preview thumbnails ------------------------------------------------------------------------------------


def test_live_preview_thumbnail_from_the_running_pipeline(client, pipeline, server):
    status, body = client.json("GET", "/api/preview.jpg")
    assert status == 503 and "no frame" in body["error"]

    class Src:
        def __init__(self, n):
            self.n = n

        def read(self):
            from livefilter.types import CapturedFrame

            if self.n == 0:
                return None
            self.n -= 1
            return CapturedFrame(make_frame(), self.n, time.perf_counter())

    class Sink:
        closed = False

        def write(self, image, frame):
            pass

        def close(self):
            pass

    pipeline.run(Src(3), Sink(), on_frame=server.preview.offer)
    status, headers, data = client.request("GET", "/api/preview.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (267, 320, 3)
    seq = int(headers["X-Frame-Seq"])
    server.preview.offer(None, np.zeros((400, 480, 3), np.uint8))
    time.sleep(0.25)
    status, headers2, data2 = client.request("GET", "/api/preview.jpg", token="query")
    assert status == 200 and int(headers2["X-Frame-Seq"]) == seq + 1 and data2 != data


def test_preview_is_encoded_at_most_max_rate_and_only_when_asked():
    tap = PreviewTap(max_rate=2.0)
    img = make_frame()
    tap.offer(None, img)
    assert tap._latest is img and tap.encoded == 0  # the pipeline thread only swaps a reference
    first, seq = tap.jpeg()
    assert tap.encoded == 1 and seq == 1
    tap.offer(None, np.zeros_like(img))
    assert tap.jpeg() == (first, 1) and tap.encoded == 1  # too soon: the cached thumbnail
    time.sleep(0.55)
    second, seq = tap.jpeg()
    assert seq == 2 and second != first and tap.encoded == 2
    assert tap.jpeg() == (second, 2) and tap.encoded == 2  # no new frame: nothing to encode


def _thumb(jpeg):
    import cv2

    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_a_reused_output_buffer_is_copied_so_the_preview_never_shows_its_next_content():
    tap = PreviewTap(max_rate=5.0)
    tap.copy_frames = True  # as for the device pipeline
    buf = make_frame()
    original = buf.copy()
    tap.offer(None, buf)
    assert tap._latest is not buf and np.array_equal(tap._latest, original)
    buf[...] = 255  # the pipeline refills the buffer two frames later
    tap.offer(None, buf)  # within 1 / max_rate: not copied again
    jpeg, seq = tap.jpeg()
    assert seq == 1 and _thumb(jpeg).mean() < 250  # the frame as offered, not the white refill
    time.sleep(0.21)
    tap.offer(None, buf)
    jpeg, seq = tap.jpeg()
    assert seq == 2 and _thumb(jpeg).mean() > 250


def test_the_pipeline_thread_skips_a_copy_rather_than_wait_for_the_encoder():
    tap = PreviewTap(max_rate=60.0)
    tap.copy_frames = True
    first = make_frame()
    tap.offer(None, first)
    time.sleep(0.02)
    with tap._copy_locks[1]:  # the encoder is reading the buffer the next copy would go to
        offer = threading.Thread(target=tap.offer, args=(None, np.zeros_like(first)), daemon=True)
        offer.start()
        offer.join(30)  # a waiting offer could not finish while this lock is held
        assert not offer.is_alive() and tap._seq == 1  # skipped, not blocked
    tap.offer(None, np.zeros_like(first))
    assert tap._seq == 2 and not tap._latest.any()


def test_the_device_pipeline_asks_the_preview_for_copies():
    from livefilter.pipeline.device import DeviceStyling
    from livefilter.pipeline.host import HostStyling

    assert DeviceStyling.reuses_output_buffers and not HostStyling.reuses_output_buffers


def test_look_preview_images(client):
    status, headers, data = client.request("GET", "/api/looks/shift/preview.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and data.startswith(b"\xff\xd8")
    status, body = client.json("GET", "/api/looks/ident/preview.jpg")  # an SVG: never served
    assert status == 404 and "not a JPEG" in body["error"]
    status, body = client.json("GET", "/api/looks/nope/preview.jpg")
    assert status == 404 and "unknown look" in body["error"]
    status, body = client.json("GET", "/api/looks/..%2F..%2Fetc/preview.jpg")
    assert status == 400 and "look name" in body["error"]


# -- page, event stream, profiles, hotkeys ----------------------------------------------------------------


def test_page_and_static_files(client, server):
    status, headers, data = client.request("GET", "/", token="query")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
    html = data.decode()
    assert server.token in html and "{{TOKEN}}" not in html
    for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css"), ("favicon.svg", "image/svg+xml")):
        status, headers, _ = client.request("GET", f"/static/{name}", token="query")
        assert status == 200 and headers["Content-Type"].startswith(ctype)
    assert client.json("GET", "/static/../server.py")[0] == 404
    assert client.json("GET", "/static/index.html")[0] == 404


def test_event_stream_sends_state_about_four_times_a_second(server, pipeline):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", f"/api/events?token={server.token}")
    res = conn.getresponse()
    assert res.status == 200 and res.getheader("Content-Type").startswith("text/event-stream")
    states = []
    t0 = time.perf_counter()
    while len(states) < 3:
        line = res.fp.readline()
        if line.startswith(b"data: "):
            states.append(json.loads(line[6:]))
            if len(states) == 1:
                pipeline.update(strength=0.25)
    elapsed = time.perf_counter() - t0
    conn.close()
    assert states[0]["look"] == "shift" and states[-1]["strength"] == 0.25
    # paced, not a busy loop: two intervals at least between three states (a lower bound no load can break)
    assert elapsed >= 0.45


def test_profiles_through_the_api(client, pipeline):
    client.json("POST", "/api/strength", {"value": 0.35})
    client.json("POST", "/api/edits", {"warmth": 0.4})
    status, body = client.json("POST", "/api/profile/save", {"name": "evening"})
    assert status == 200 and body["profile"]["look"] == "shift" and body["state"]["profile"] == "evening"
    assert ProfileStore().get("evening").prefs("shift").strength == 0.35

    client.json("POST", "/api/look", {"name": "ident"})
    client.json("POST", "/api/strength", {"value": 0.9})
    client.json("POST", "/api/profile/save", {"name": "evening"})  # now remembers both looks
    client.json("POST", "/api/look", {"name": "shift"})  # an active profile restores its look settings
    assert (pipeline.controls.strength, pipeline.controls.edits.warmth) == (0.35, 0.4)

    client.json("POST", "/api/strength", {"value": 1.0})
    client.json("POST", "/api/edits", {"warmth": 0})
    status, body = client.json("POST", "/api/profile/load", {"name": "evening"})
    assert status == 200
    c = pipeline.controls
    assert (c.look, c.strength, c.edits.warmth) == ("ident", 0.9, 0.4)
    assert body["state"]["profiles"] == ["evening"]


def test_hotkeys(pipeline):
    on_key = hotkey_handler(pipeline, pipeline.registry)
    on_key("2")
    assert pipeline.controls.look == "shift"  # looks in name order: 1 ident, 2 shift
    on_key("1")
    assert pipeline.controls.look == "ident"
    on_key("9")  # no 9th look: nothing happens
    assert pipeline.controls.look == "ident"
    on_key("+")
    on_key("+")
    on_key("+")
    assert pipeline.controls.strength == 1.0  # clamped
    on_key("-")
    assert pipeline.controls.strength == pytest.approx(0.9)
    on_key(" ")
    assert pipeline.controls.paused
    on_key(" ")
    assert not pipeline.controls.paused
    on_key("b"), on_key("b"), on_key("C"), on_key("s"), on_key("W")
    assert pipeline.controls.edits == ColorEdits(brightness=0.2, contrast=-0.1, saturation=0.1, warmth=-0.1)
    on_key("0")
    assert pipeline.controls.edits == ColorEdits()
    before = pipeline.controls
    for junk in ("x", "", "ab", "\x00", "é"):
        on_key(junk)
    assert pipeline.controls is before
    # the same controller (and lock) serves the server and the hotkeys
    assert Controller.for_pipeline(pipeline) is Controller.for_pipeline(pipeline)


def test_concurrent_changes_are_not_lost(client, pipeline):
    """A slider and a pause button at the same moment: both land."""
    errors = []

    def hammer(path, body, n=15):
        for _ in range(n):
            status, _ = client.json("POST", path, body)
            if status != 200:
                errors.append(status)

    threads = [threading.Thread(target=hammer, args=("/api/strength", {"value": 0.3})),
               threading.Thread(target=hammer, args=("/api/edits", {"saturation": -0.5})),
               threading.Thread(target=hammer, args=("/api/pause", {"paused": True}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = pipeline.controls
    assert (c.strength, c.edits.saturation, c.paused) == (0.3, -0.5, True)


def test_live_control_for_the_run_command(pipeline, monkeypatch):
    """What `livefilter run` wires: server + preview hook + hotkeys, and control.json for local tools."""
    import os
    import stat

    from livefilter.control.live import LiveControl, control_info_path, read_control_info
    from livefilter.errors import SettingError

    monkeypatch.setenv("LIVEFILTER_CONTROL_TOKEN", "a-fixed-token-for-stream-deck")
    live = LiveControl(pipeline, pipeline.registry, profile="evening")
    try:
        info = read_control_info()
        assert info["token"] == "a-fixed-token-for-stream-deck" and info["url"] == live.url
        assert stat.S_IMODE(os.stat(control_info_path()).st_mode) == 0o600
        assert read_control_info(os.getpid()) == info
        assert stat.S_IMODE(os.stat(control_info_path(os.getpid())).st_mode) == 0o600
        c = Client(live.server)
        assert c.json("GET", "/api/state")[1]["profile"] == "evening"
        live.on_key(" ")
        assert pipeline.controls.paused
        live.on_frame(None, make_frame())
        assert c.request("GET", "/api/preview.jpg")[0] == 200
    finally:
        live.close()
    assert not control_info_path().exists() and not control_info_path(os.getpid()).exists()
    with pytest.raises(SettingError, match="not running"):
        read_control_info()
    off = LiveControl(pipeline, pipeline.registry, serve=False)
    assert off.on_frame is None and off.url is None and callable(off.on_key)
    off.close()
    monkeypatch.setenv("LIVEFILTER_CONTROL_TOKEN", "short")
    with pytest.raises(SettingError, match="at least 16"):
        LiveControl(pipeline, pipeline.registry)


# -- hostile clients ----------------------------------------------------------------------------------------


def _reset(port: int, data: bytes) -> None:
    """Send ``data`` and drop the connection with a TCP reset (SO_LINGER 0), as a slowloris burst does."""
    import struct

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if data:
        s.sendall(data)
    s.close()


def test_connection_resets_log_one_line_per_kind_and_no_traceback(server, client, caplog, capfd):
    import logging

    caplog.set_level(logging.DEBUG, logger="livefilter.control.server")
    head = (f"POST /api/strength HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.token}\r\nContent-Length: 200\r\n\r\n{{\"value\"").encode()
    for i in range(40):
        _reset(server.port, [b"", b"GET /api/state HTTP/1.1\r\nHo", head][i % 3])
    deep = b"[" * 5000 + b"]" * 5000
    status, body = client.json("POST", "/api/edits", raw=deep)
    assert status == 400 and "nested too deeply" in body["error"]
    assert client.json("GET", "/api/state")[0] == 200  # still serving
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    kinds = [r.getMessage() for r in warnings]
    assert len(kinds) == len(set(kinds)) and len(kinds) <= 3, kinds  # one line per kind, not one per request
    assert not any(r.exc_info for r in warnings)
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


def test_concurrent_runs_each_keep_their_own_control_file(tmp_path):
    """Two `livefilter run`s at once: each publishes control-PID.json; the one that ends first removes
    only its own file, and control.json then points at the run still going."""
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT, shared_path

    video = shared_path("video", "liveportrait", "d6.mp4")  # long enough to still run while the other ends
    home = tmp_path / "home"
    make_look(home / "data" / "looks", "shift", kind="shift")
    env = dict(os.environ, LIVEFILTER_HOME=str(home))
    data = home / "data"

    def start(*extra):
        return subprocess.Popen([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null",
                                 "--look", "shift", *extra], env=env, cwd=REPO_ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait_for(path, proc):
        deadline = time.monotonic() + 120
        while not path.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.1)

    first = start("--loop")
    try:
        wait_for(data / f"control-{first.pid}.json", first)
        second = start("--max-frames", "40")
        wait_for(data / f"control-{second.pid}.json", second)
        assert json.loads((data / "control.json").read_text())["pid"] == second.pid  # the newest run
        second.communicate(timeout=120)
        assert second.returncode == 0
        assert not (data / f"control-{second.pid}.json").exists()
        assert (data / f"control-{first.pid}.json").exists()  # the other run's file is untouched
        info = json.loads((data / "control.json").read_text())
        assert info["pid"] == first.pid
        status = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=10)
        status.request("GET", "/api/state", headers={"Authorization": f"Bearer {info['token']}",
                                                     "Host": f"127.0.0.1:{info['port']}"})
        assert status.getresponse().status == 200  # and it is the live one
    finally:
        first.terminate()
        first.communicate(timeout=60)
    assert first.returncode == 143
    assert not list(data.glob("control*.json"))
