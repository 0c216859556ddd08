"""The stable control address and the OBS scene mapping in the user settings, through the real CLI,
and the added-latency measure behind the Sync Offset advice."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO_ROOT
from livefilter.control.endpoint import PORT_RANGE, stable_endpoint
from livefilter.control.live import LiveControl
from livefilter.infra.latency import OutputLatency, sync_advice
from livefilter.sinks.latency_probe import LatencyProbeSink
from livefilter.sinks.null_sink import NullSink
from livefilter.types import CapturedFrame
from livefilter.settings.userconfig import ConfigError, ConfigStore
from onnx_looks import make_look
from test_control import Client, looks_dir, pipeline  # noqa: F401 - fixtures


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True,
                          env=env or dict(os.environ, COLUMNS="200"), cwd=REPO_ROOT, timeout=120)


def test_control_address_is_stable_and_rotates(_isolated_home):
    r1, r2 = cli("control"), cli("obs", "dock")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    endpoint = stable_endpoint()
    assert PORT_RANGE[0] <= endpoint.port <= PORT_RANGE[1]
    assert endpoint.url in r1.stdout and endpoint.dock_url in r1.stdout
    assert endpoint.dock_url == f"http://127.0.0.1:{endpoint.port}/?token={endpoint.token}&layout=dock"
    assert endpoint.dock_url in r2.stdout and "Docks → Custom Browser Docks" in r2.stdout
    path = _isolated_home / "config" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the token
    r = cli("control", "--new-token")
    assert r.returncode == 0, r.stderr
    rotated = stable_endpoint()
    assert rotated.port == endpoint.port and rotated.token != endpoint.token
    assert rotated.url in r.stdout and endpoint.token not in r.stdout
    r = cli("control", "--port", "80")
    assert r.returncode == 2 and "control port must be a number in 1024..65535" in r.stderr


def test_run_serves_the_stable_address_and_falls_back_when_taken(pipeline, caplog):  # noqa: F811
    endpoint = stable_endpoint()
    live = LiveControl(pipeline, pipeline.registry)
    try:
        assert live.url == endpoint.url and live.dock_url == endpoint.dock_url
        status, body = Client(live.server).json("GET", "/api/state")
        assert status == 200 and "latency" in body
        # a second run while the first holds the port: a free port this run, said once
        other = LiveControl(pipeline, pipeline.registry, publish=False)
        try:
            assert other.server.port != endpoint.port and other.server.token == endpoint.token
            assert any("using a free port this run" in r.message for r in caplog.records)
        finally:
            other.close()
    finally:
        live.close()
    explicit = LiveControl(pipeline, pipeline.registry, port=0, publish=False)  # 0: any free port
    assert explicit.server.port != endpoint.port
    explicit.close()


def test_a_broken_settings_file_is_reported_not_overwritten(_isolated_home, pipeline, caplog):  # noqa: F811
    path = _isolated_home / "config" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "control": {"port": "twelve"}}')
    with pytest.raises(ConfigError, match="control port must be a number"):
        ConfigStore().load()
    r = cli("obs", "map", "Gaming=glam")  # a built-in look
    assert r.returncode == 2 and "settings file" in r.stderr and "Traceback" not in r.stderr
    live = LiveControl(pipeline, pipeline.registry, publish=False)  # the stream still starts
    live.close()
    assert any("no stable control address this run" in r.message for r in caplog.records)
    assert path.read_text() == '{"format": 1, "control": {"port": "twelve"}}'


def test_obs_map_pause_unmap(_isolated_home):
    make_look(_isolated_home / "data" / "looks", "glam", kind="identity")
    make_look(_isolated_home / "data" / "looks", "natural", kind="identity")
    r = cli("obs", "map", "Just Chatting=glam", "Gaming=natural", "a=b=glam")
    assert r.returncode == 0, r.stderr
    assert "Just Chatting" in r.stdout and "look natural" in r.stdout
    r = cli("obs", "pause", "BRB", "Starting soon", "Gaming")  # Gaming now pauses instead
    assert r.returncode == 0, r.stderr
    obs = ConfigStore().load().obs
    assert obs.scene_looks == {"Just Chatting": "glam", "a=b": "glam"}
    assert obs.pause_scenes == ("BRB", "Gaming", "Starting soon")  # saved sorted
    r = cli("obs", "map", "Gaming=nope")
    assert r.returncode == 2 and "unknown look 'nope' for scene 'Gaming' (available: " in r.stderr  # with the built-in toon
    r = cli("obs", "map", "no-equals-sign")
    assert r.returncode == 2 and 'expected "SCENE=LOOK"' in r.stderr
    r = cli("obs", "unmap", "a=b", "BRB")
    assert r.returncode == 0, r.stderr
    r = cli("obs", "unmap", "Never mapped")
    assert r.returncode == 2 and "not mapped: 'Never mapped'" in r.stderr
    r = cli("obs", "map")
    assert r.returncode == 0 and "Just Chatting" in r.stdout and "a=b" not in r.stdout
    saved = json.loads((_isolated_home / "config" / "config.json").read_text())
    assert saved["obs"] == {"scene_looks": {"Just Chatting": "glam"}, "pause_scenes": ["Gaming", "Starting soon"]}
    # a scene name with markup is printed as text, not interpreted
    r = cli("obs", "map", "[bold red]x[/]=glam")
    assert r.returncode == 0 and "[bold red]x[/]" in r.stdout


def test_output_latency_window_and_advice():
    lat = OutputLatency(window_s=10.0)
    assert lat.sync_offset_ms() is None and sync_advice(None) is None
    t = 1000.0
    for i in range(50):  # old samples: 300 ms, outside the window by the end
        lat.add(t + i * 0.01 - 0.3, t + i * 0.01)
    t2 = t + 20.0
    rng = np.random.default_rng(0)
    delays = rng.uniform(0.040, 0.060, 200)
    for i, dly in enumerate(delays):
        lat.add(t2 + i * 0.02 - dly, t2 + i * 0.02)
    now = t2 + 200 * 0.02
    expected = float(np.median(delays[[i for i in range(200) if now - (t2 + i * 0.02) <= 10.0]] * 1000))
    assert lat.p50_ms(now) == pytest.approx(expected)
    assert lat.sync_offset_ms(now) == round(expected)
    s = lat.summary(now)
    assert s["n"] == 200 and s["sync_offset_ms"] == round(expected) and s["window_s"] == 10.0
    assert sync_advice(s["sync_offset_ms"]) == f"set your mic's Sync Offset to {round(expected)} ms"
    assert lat.summary(now + 60)["sync_offset_ms"] is None  # nothing written for a minute: no advice


def test_probe_counts_capture_to_write():
    lat = OutputLatency()
    inner = NullSink()
    probe = LatencyProbeSink(inner, lat)
    img = np.zeros((4, 4, 3), np.uint8)
    for i in range(12):
        probe.write(img, CapturedFrame(img, i, time.perf_counter() - 0.025))
    assert inner.frames == 12 and probe.frames == 12 and not probe.closed  # the wrapped sink's attributes
    assert 25 <= lat.sync_offset_ms() < 1000


def test_run_summary_advises_the_sync_offset(_isolated_home):
    from conftest import shared_path

    video = shared_path("video", "liveportrait", "d0.mp4")
    make_look(_isolated_home / "data" / "looks", "ident", kind="identity")
    r = cli("run", "-i", str(video), "-o", "null", "--max-frames", "20", "--look", "ident", "--no-control")
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("added latency"))
    assert "set your mic's Sync Offset to " in line and line.split("Sync Offset to ")[1].split(" ms")[0].isdigit()
