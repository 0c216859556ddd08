"""Looks that follow OBS scenes, through obs-websocket 5, against a local protocol server.

The server (tests/obs_ws_server.py) speaks the real protocol (Hello / Identify / Identified / Event /
Request / RequestResponse) with the real authentication; the client side is livefilter's ObsLink on
obsws-python, driving a real pipeline through its Controller.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("obsws_python", reason="needs the obs extra: pip install 'livefilter[obs]'")
pytest.importorskip("websockets", reason="the test OBS server needs `pip install websockets`")

from fakes import FixedFaceTracker  # noqa: E402
from livefilter.control import Controller  # noqa: E402
from livefilter.errors import SettingError  # noqa: E402
from livefilter.infra.latency import OutputLatency  # noqa: E402
from livefilter.looks.registry import LookRegistry  # noqa: E402
from livefilter.obs import ObsLink, ObsTarget, SceneLooks  # noqa: E402
from livefilter.obs.for_run import prepare  # noqa: E402
from livefilter.obs.sync import SyncOffsetTask  # noqa: E402
from livefilter.obs.target import read_password_file  # noqa: E402
from livefilter.pipeline.host import LiveControls, Pipeline  # noqa: E402
from livefilter.settings.profiles import ProfileStore  # noqa: E402
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator  # noqa: E402
from livefilter.settings.userconfig import ObsSettings  # noqa: E402
from obs_ws_server import FakeObs, auth_string  # noqa: E402
from onnx_looks import make_look  # noqa: E402
from waiting import wait_for  # noqa: E402

PASSWORD = "correct horse battery staple"
SETTINGS = ObsSettings({"Just Chatting": "glam", "Gaming": "natural"}, ("BRB",))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def controller(tmp_path):
    d = tmp_path / "looks"
    make_look(d, "glam", kind="shift", shift=(0.4, 0.0, 0.1))
    make_look(d, "natural", kind="identity")
    make_look(d, "noir", kind="shift", shift=(-0.4, -0.4, -0.4))
    reg = LookRegistry([d])
    p = Pipeline(FixedFaceTracker(), reg.get, lambda lk: OnnxRuntimeTranslator(lk, threads=1),
                 LiveControls(look="noir", strength=0.8), max_faces=1)
    return Controller(p, reg, ProfileStore())


class Lines:
    """Collects what the link would print, one message per line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        assert "\n" not in message
        with self._lock:
            self.lines.append(message)

    def has(self, text: str) -> bool:
        with self._lock:
            return any(text in line for line in self.lines)

    def count(self, text: str) -> int:
        with self._lock:
            return sum(text in line for line in self.lines)


def make_link(port: int, controller, lines, password=PASSWORD, settings=SETTINGS, tasks=()):
    scenes = SceneLooks(controller, settings, lines)
    return ObsLink(ObsTarget("127.0.0.1", port, password), scenes.on_scene, notify=lines, tasks=tasks,
                   backoff_s=(0.05, 0.2), timeout_s=3.0)


def test_auth_string_is_obs_websockets():
    # protocol.md's recipe, spelled out independently of the server helper
    import base64
    import hashlib

    secret = base64.b64encode(hashlib.sha256(b"supersecretpasswordsalt").digest())
    expected = base64.b64encode(hashlib.sha256(secret + b"challenge").digest()).decode()
    assert auth_string("supersecretpassword", "salt", "challenge") == expected


def test_scene_switches_switch_looks_and_pause(controller):
    lines = Lines()
    with FakeObs(password=PASSWORD, scenes=["Just Chatting", "Gaming", "BRB", "Other"]) as obs:
        link = make_link(obs.port, controller, lines).start()
        try:
            # On connecting, the current program scene ("Just Chatting") applies at once.
            wait_for(lambda: controller.pipeline.controls.look == "glam", what="look of the current scene")
            assert lines.has(f"connected to OBS at ws://127.0.0.1:{obs.port}")
            assert obs.requests_of("GetCurrentProgramScene")
            obs.switch_scene("Gaming")
            wait_for(lambda: controller.pipeline.controls.look == "natural", what="Gaming -> natural")
            assert link.status() == {"url": f"ws://127.0.0.1:{obs.port}", "state": "connected", "scene": "Gaming",
                                     "problem": None}
            # A pause scene pauses the look; leaving it resumes, keeping the look.
            obs.switch_scene("BRB")
            wait_for(lambda: controller.pipeline.controls.paused, what="BRB pauses")
            assert controller.pipeline.controls.look == "natural"
            obs.switch_scene("Just Chatting")
            wait_for(lambda: controller.pipeline.controls.look == "glam", what="Just Chatting -> glam")
            assert not controller.pipeline.controls.paused
            # An unmapped scene leaves the look alone, and a pause the streamer made is never lifted.
            controller.set_paused(True)
            obs.switch_scene("Other")
            obs.switch_scene("Gaming")
            wait_for(lambda: controller.pipeline.controls.look == "natural", what="Gaming again")
            assert controller.pipeline.controls.paused
        finally:
            link.close()
    assert obs.auth_failures == 0 and obs.identified == 2  # one request and one event connection


def test_dropped_connection_and_obs_restart_reconnect(controller):
    lines = Lines()
    port = free_port()
    obs = FakeObs(password=PASSWORD, scenes=["Gaming", "Just Chatting"], port=port).start()
    link = make_link(port, controller, lines).start()
    try:
        wait_for(lambda: controller.pipeline.controls.look == "natural", what="first connection")
        # The connection breaks; the link notices, says so once and connects again by itself.
        obs.drop_connections()
        wait_for(lambda: lines.has("lost the connection to OBS"), what="drop noticed")
        wait_for(lambda: link.connections == 2 and link.state == "connected", what="reconnect after a drop")
        obs.switch_scene("Just Chatting")
        wait_for(lambda: controller.pipeline.controls.look == "glam", what="events after reconnecting")
        # OBS quits: nothing listens any more; the link waits with back-off ...
        obs.stop()
        wait_for(lambda: link.state == "waiting" and lines.has("OBS is not running"), what="OBS gone")
        # ... and OBS comes back (same port, now on another scene): connected again, its scene applies.
        obs = FakeObs(password=PASSWORD, scenes=["Gaming"], port=port).start()
        wait_for(lambda: link.connections == 3 and link.state == "connected", what="reconnect after a restart")
        wait_for(lambda: controller.pipeline.controls.look == "natural", what="scene after the restart")
        assert lines.count("OBS is not running") == 1  # retries are quiet
    finally:
        link.close()
        obs.stop()


def test_wrong_or_missing_password_is_one_line_and_stops(controller):
    for password, expected in (("wrong password", "OBS refused the password"),
                               (None, "OBS asks for a password: pass --obs-password-file")):
        lines = Lines()
        with FakeObs(password=PASSWORD) as obs:
            link = make_link(obs.port, controller, lines, password=password).start()
            try:
                wait_for(lambda: link.state == "failed", what="failed state")
            finally:
                link.close()
        assert lines.lines[0].startswith(expected), lines.lines
        assert lines.lines[1:] == ["livefilter goes on without OBS control"]
        assert controller.pipeline.controls.look == "noir"
        if password is not None:
            assert obs.auth_failures == 1  # tried once: a wrong password does not get better


def test_obs_not_running_then_starting(controller):
    lines = Lines()
    port = free_port()
    link = make_link(port, controller, lines).start()
    try:
        wait_for(lambda: lines.has("OBS is not running"), what="not-running line")
        assert lines.lines == [f"OBS is not running (nothing answers at ws://127.0.0.1:{port}); "
                               "livefilter connects when it starts"]
        with FakeObs(password=PASSWORD, scenes=["Gaming"], port=port):
            wait_for(lambda: controller.pipeline.controls.look == "natural", what="connect once OBS starts")
    finally:
        link.close()


def test_websocket_server_disabled(controller, tmp_path):
    """OBS runs (a process named obs) but nothing listens on the port: the line says how to enable it."""
    fake_obs_binary = tmp_path / "obs"
    shutil.copy(shutil.which("sleep"), fake_obs_binary)
    proc = subprocess.Popen([str(fake_obs_binary), "60"])
    lines = Lines()
    port = free_port()
    link = make_link(port, controller, lines)
    try:
        link.start()
        wait_for(lambda: lines.lines, what="a line")
        assert lines.lines[0] == (f"OBS is running but its WebSocket server is off or not on port {port}: "
                                  "Tools → WebSocket Server Settings → Enable WebSocket server")
        assert link.state == "waiting"
    finally:
        link.close()
        proc.kill()
        proc.wait()


def test_not_an_obs_server(controller):
    """Something else on the port (here: an HTTP server) is reported, not retried forever."""
    import http.server

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    lines = Lines()
    link = make_link(httpd.server_address[1], controller, lines).start()
    try:
        wait_for(lambda: link.state == "failed", what="failed state")
        assert "is not an OBS WebSocket server" in lines.lines[0]
    finally:
        link.close()
        httpd.shutdown()
        httpd.server_close()


def test_sync_offset_is_set_on_the_named_input(controller):
    latency = OutputLatency(window_s=10.0)
    now = time.perf_counter()
    for i in range(30):
        latency.add(now - 0.048 - (i % 3) * 0.001, now)  # 48..50 ms
    lines = Lines()
    with FakeObs(password=PASSWORD, scenes=["Gaming"], inputs={"Mic/Aux": "pulse_input_capture",
                                                               "Desktop Audio": "pulse_output_capture"}) as obs:
        sync = SyncOffsetTask("Mic/Aux", latency, notify=lines, settle_s=0.0)
        missing = SyncOffsetTask("Webcam Mic", latency, notify=lines, settle_s=0.0)
        link = make_link(obs.port, controller, lines, tasks=(sync, missing)).start()
        try:
            wait_for(lambda: sync.applied_ms is not None, what="sync offset set")
            wait_for(lambda: lines.has("Webcam Mic"), what="missing input reported")
        finally:
            link.close()
    assert sync.applied_ms == 49
    assert obs.sync_offsets == {"Mic/Aux": 49, "Desktop Audio": 0}
    assert obs.requests_of("SetInputAudioSyncOffset") == [{"inputName": "Mic/Aux", "inputAudioSyncOffset": 49}]
    assert lines.has("set the Sync Offset of OBS input 'Mic/Aux' to 49 ms")
    assert lines.has("OBS has no audio input named 'Webcam Mic' (inputs: Mic/Aux, Desktop Audio)")


def test_options_are_checked_before_anything_starts(tmp_path):
    assert prepare(None, None, None) is None
    with pytest.raises(SettingError, match="need --obs"):
        prepare(None, None, "Mic/Aux")
    for bad in ("http://127.0.0.1:4455", "ws://", "ws://h:99999", "ws://u:p@h:4455", "wss://h/x?y=1"):
        with pytest.raises(SettingError, match="must look like ws://127.0.0.1:4455"):
            prepare(bad, None, None)
    with pytest.raises(SettingError, match="cannot read the OBS password file"):
        prepare("ws://127.0.0.1:4455", str(tmp_path / "missing.txt"), None)
    f = tmp_path / "pw.txt"
    f.write_text("")
    with pytest.raises(SettingError, match="is empty"):
        read_password_file(f)
    f.write_text(PASSWORD + "\n")
    plan = prepare("ws://localhost", str(f), "Mic/Aux")
    assert plan.target == ObsTarget("localhost", 4455, PASSWORD) and plan.sync_input == "Mic/Aux"
    assert PASSWORD not in repr(plan.target)


@pytest.fixture
def run_env(tmp_path):
    from conftest import REPO_ROOT

    home = tmp_path / "home"
    make_look(home / "data" / "looks", "glam", kind="shift", shift=(0.4, 0.0, 0.1))
    make_look(home / "data" / "looks", "natural", kind="identity")
    env = dict(os.environ, LIVEFILTER_HOME=str(home), COLUMNS="200")
    return home, env, REPO_ROOT


def test_livefilter_run_follows_obs_scenes(run_env, tmp_path):
    """The real command: `livefilter obs map`, then `livefilter run --obs` switching looks with scenes."""
    import json
    import urllib.request

    from conftest import shared_path

    home, env, root = run_env
    video = shared_path("video", "liveportrait", "d0.mp4")
    r = subprocess.run([sys.executable, "-m", "livefilter", "obs", "map", "Just Chatting=glam", "Gaming=natural"],
                       capture_output=True, text=True, env=env, cwd=root, timeout=60)
    assert r.returncode == 0, r.stderr
    pw = tmp_path / "obs-password"
    pw.write_text(PASSWORD + "\n")
    with FakeObs(password=PASSWORD, scenes=["Gaming", "Just Chatting"], inputs={"Mic": "pulse_input_capture"}) as obs:
        proc = subprocess.Popen(
            [sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null", "--loop", "--look", "glam",
             "--obs", f"ws://127.0.0.1:{obs.port}", "--obs-password-file", str(pw), "--obs-sync-input", "Mic",
             "--duration", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
        try:
            info_path = home / "data" / "control.json"
            wait_for(info_path.exists, timeout=60, what="control.json")
            info = json.loads(info_path.read_text())

            def state():
                req = urllib.request.Request(info["base_url"] + "/api/state",
                                             headers={"Authorization": "Bearer " + info["token"]})
                with urllib.request.urlopen(req, timeout=5) as res:
                    return json.load(res)

            wait_for(lambda: state()["look"] == "natural", timeout=60, what="Gaming -> natural")
            assert state()["obs"]["state"] == "connected" and state()["obs"]["scene"] == "Gaming"
            obs.switch_scene("Just Chatting")
            wait_for(lambda: state()["look"] == "glam", timeout=30, what="Just Chatting -> glam")
            obs.drop_connections()
            wait_for(lambda: obs.connected_clients() == 2 and obs.identified >= 4, timeout=30, what="reconnected")
            obs.switch_scene("Gaming")
            wait_for(lambda: state()["look"] == "natural", timeout=30, what="scene switch after reconnecting")
            # --obs-sync-input: the measured delay becomes the mic's Sync Offset in OBS
            wait_for(lambda: obs.sync_offsets["Mic"] > 0, timeout=90, what="Sync Offset set")
            s = state()
            assert set(s["latency"]) == {"p50_ms", "p99_ms", "n", "window_s", "sync_offset_ms"} and s["frames"] > 0
        finally:
            proc.terminate()
            stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr  # SIGTERM: finalised, then the conventional code
    assert f"OBS connected to OBS at ws://127.0.0.1:{obs.port} (scene 'Gaming')" in stdout
    assert "OBS lost the connection to OBS; reconnecting" in stdout
    assert f"OBS set the Sync Offset of OBS input 'Mic' to {obs.sync_offsets['Mic']} ms" in stdout
    assert "added latency" in stdout
    assert "Traceback" not in stderr and PASSWORD not in stdout + stderr


def test_livefilter_run_without_obs_keeps_running(run_env):
    """OBS not running / a wrong password: one line, and the video goes on to the end."""
    from conftest import shared_path

    home, env, root = run_env
    video = shared_path("video", "liveportrait", "d0.mp4")
    port = free_port()
    r = subprocess.run([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null", "--max-frames", "8",
                        "--obs", f"ws://127.0.0.1:{port}"],
                       capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("OBS is not running") == 1 and "8 frames in" in r.stdout
    pw = home / "wrong-password"
    pw.write_text("not the password")
    with FakeObs(password=PASSWORD) as obs:
        r = subprocess.run([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null", "--loop",
                            "--duration", "6", "--obs", f"ws://127.0.0.1:{obs.port}", "--obs-password-file", str(pw)],
                           capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("OBS refused the password from --obs-password-file") == 1
    assert "livefilter goes on without OBS control" in r.stdout and "frames in" in r.stdout
    r = subprocess.run([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null",
                        "--obs-sync-input", "Mic"], capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert r.returncode == 2 and "need --obs" in r.stderr and "Traceback" not in r.stderr


def test_obs_scene_names_are_printed_escaped_and_bounded(controller):
    """A scene name is OBS's text, not ours: escape sequences and bidi controls shown escaped, and a
    1 MB name cut to one bounded line."""
    hostile = "\x1b[2J\x1b]0;pwned\x07\u202eevil" + "x" * 1_000_000
    lines = Lines()
    port = free_port()
    with FakeObs(password=PASSWORD, scenes=[hostile], port=port):
        link = make_link(port, controller, lines)
        link.start()
        try:
            wait_for(lambda: lines.has("connected to OBS"), 20)
        finally:
            link.close()
    (line,) = [ln for ln in lines.lines if "connected to OBS" in ln]
    assert "\x1b" not in line and "\u202e" not in line and "\x07" not in line
    assert "\\x1b" in line and "\\u202e" in line
    assert len(line) < 500 and "characters)" in line


def test_malformed_events_are_one_line_each_and_the_link_stays_up(controller, capfd):
    """Non-JSON, binary, no ``d``, a list for ``eventData``: one line per kind, never a traceback, and the
    connection (so the back-off) is left as it is; scene changes after them still arrive."""
    lines = Lines()
    port = free_port()
    with FakeObs(password=PASSWORD, scenes=["Gaming", "Just Chatting"], port=port) as obs:
        link = make_link(port, controller, lines)
        link.start()
        try:
            wait_for(lambda: lines.has("connected to OBS"), 20)
            bad = ["not json", b"\x00\xff binary", '{"op": 5}', '{"op": 5, "d": {"eventType": "X", "eventData": [1]}}',
                   '[1, 2]']
            for _ in range(3):
                obs.send_raw(*bad)
            obs.switch_scene("Just Chatting")
            wait_for(lambda: controller.pipeline.controls.look == "glam", 20)
            assert link.connections == 1 and link.state == "connected"
        finally:
            link.close()
    err = capfd.readouterr()
    assert "Traceback" not in err.err + err.out
    assert lines.count("malformed event") == 1  # one line for the kind, however many came
    assert sum(link.bad_messages.values()) == 15


def test_a_reply_that_is_not_an_object_keeps_the_link_honest(controller):
    lines = Lines()
    port = free_port()
    with FakeObs(password=PASSWORD, scenes=["Gaming"], port=port,
                 reply_overrides={"GetCurrentProgramScene": ["not", "an", "object"]}):
        link = make_link(port, controller, lines)
        link.start()
        try:
            wait_for(lambda: lines.has("unexpected reply"), 20)
            assert link._thread.is_alive() and link.state == "connected"
        finally:
            link.close()


def test_an_event_flood_is_coalesced_and_does_not_starve_the_caller(controller):
    """~thousands of scene events a second: the newest scene wins, applied a handful of times, not once per
    event, and the event thread throttles itself."""
    import time as _time

    lines = Lines()
    port = free_port()
    applied = []
    with FakeObs(password=PASSWORD, scenes=["Gaming", "Just Chatting"], port=port) as obs:
        link = make_link(port, controller, lines)
        real = link.on_scene
        link.on_scene = lambda name: (applied.append(name), real(name))
        link.start()
        try:
            wait_for(lambda: lines.has("connected to OBS"), 20)
            t0 = _time.monotonic()
            sent = obs.flood_scenes(["Gaming", "Just Chatting"], 0.3)
            last = obs.program_scene  # the newest scene the flood left OBS on
            wait_for(lambda: link.scene == last and not link._pending_scene, 120)
            elapsed = _time.monotonic() - t0
        finally:
            link.close()
    assert sent > 300
    assert len(applied) < sent / 10  # coalesced
    assert elapsed > 0  # (the speed itself is measured by the bench, not asserted here)


def test_connection_problems_are_reported_once_per_kind_whatever_their_text(controller, monkeypatch):
    """A connection that keeps failing with varying text (an errno, a changing reason) is one line."""
    from livefilter.obs import link as link_mod
    from livefilter.obs.problems import ObsProblem

    tries = []

    def failing(self):
        tries.append(1)
        raise ObsProblem(f"connection to OBS failed: reason #{len(tries)}", retry=True, kind="connection")

    monkeypatch.setattr(link_mod.ObsLink, "_connect", failing)
    lines = Lines()
    link = make_link(free_port(), controller, lines)
    link.start()
    try:
        wait_for(lambda: len(tries) >= 4, 20)
    finally:
        link.close()
    assert lines.count("connection to OBS failed") == 1
