"""The OBS hotkey script shipped in the package, run against a recording stand-in of ``obspython``
and a real control server driving a real pipeline (so every hotkey's effect is checked end to end).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from livefilter.control import ControlServer, Controller, PreviewTap
from livefilter.control.live import LiveControl
from livefilter.obs.dock import SCRIPT_PATH
from obspython_standin import LOG_WARNING, ObsPythonStandIn
from test_control import looks_dir, pipeline  # noqa: F401 - fixtures
from waiting import wait_for

REAL_OBSPYTHON = Path("/usr/lib/x86_64-linux-gnu/obs-scripting/obspython.py")
HOTKEY_NAMES = ["livefilter.next_look", "livefilter.previous_look", "livefilter.strength_up",
                "livefilter.strength_down", "livefilter.pause"]


def load_script(monkeypatch, standin: ObsPythonStandIn):
    monkeypatch.setitem(sys.modules, "obspython", standin.module())
    spec = importlib.util.spec_from_file_location("livefilter_obs_script", SCRIPT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_path_is_printed_and_shipped():
    r = subprocess.run([sys.executable, "-m", "livefilter", "obs", "script"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.splitlines()[0])
    assert path == SCRIPT_PATH and path.is_file()
    assert "Tools → Scripts" in r.stdout
    source = path.read_text("utf-8")
    assert "import livefilter" not in source  # OBS runs it with its own Python: standard library only


def test_hotkeys_register_save_and_drive_livefilter(monkeypatch, pipeline):  # noqa: F811
    standin = ObsPythonStandIn()
    script = load_script(monkeypatch, standin)
    live = LiveControl(pipeline, pipeline.registry)  # publishes control.json, as `livefilter run` does
    try:
        settings = {"livefilter.pause": [{"key": "OBS_KEY_F9"}]}
        script.script_load(settings)
        registered = [(h.name, h.description) for h in standin.hotkeys.values()]
        assert [n for n, _ in registered] == HOTKEY_NAMES
        assert all(d.startswith("livefilter: ") for _, d in registered)
        by_name = {h.name: h for h in standin.hotkeys.values()}
        assert by_name["livefilter.pause"].bindings == [{"key": "OBS_KEY_F9"}]  # saved binding restored
        assert all(a.released for a in standin.arrays)

        looks = pipeline.registry.list()
        names = [lk.name for lk in looks]
        start = names.index(pipeline.controls.look)
        standin.press("livefilter.next_look")
        wait_for(lambda: pipeline.controls.look == names[(start + 1) % len(names)], what="next look")
        standin.press("livefilter.previous_look")
        wait_for(lambda: pipeline.controls.look == names[start], what="previous look")
        s0 = pipeline.controls.strength
        standin.press("livefilter.strength_up")
        wait_for(lambda: abs(pipeline.controls.strength - min(1.0, s0 + 0.1)) < 1e-6, what="strength up")
        standin.press("livefilter.strength_down")
        standin.press("livefilter.strength_down")
        wait_for(lambda: abs(pipeline.controls.strength - (min(1.0, s0 + 0.1) - 0.2)) < 1e-6, what="strength down")
        standin.press("livefilter.pause")
        wait_for(lambda: pipeline.controls.paused, what="pause")
        standin.press("livefilter.pause")
        wait_for(lambda: not pipeline.controls.paused, what="resume")

        # Bindings the user set in OBS are saved with the script's settings, then everything is let go.
        by_name["livefilter.next_look"].bindings = [{"key": "OBS_KEY_F10"}]
        saved: dict = {}
        script.script_save(saved)
        assert saved["livefilter.next_look"] == [{"key": "OBS_KEY_F10"}] and set(saved) == set(HOTKEY_NAMES)
        assert all(a.released for a in standin.arrays)
        script.script_unload()
        assert not any(h.registered for h in standin.hotkeys.values())
    finally:
        live.close()
    assert not standin.log  # nothing went wrong


def test_dock_url_setting_and_failures_are_logged_not_raised(monkeypatch, pipeline):  # noqa: F811
    standin = ObsPythonStandIn()
    script = load_script(monkeypatch, standin)
    server = ControlServer(Controller(pipeline, pipeline.registry), preview=PreviewTap()).start()
    try:
        props = script.script_properties()
        assert [p["name"] for p in props] == ["control_url"]
        assert props[0]["kind"] == standin.module().OBS_TEXT_PASSWORD  # the URL holds the token
        # livefilter not running (no control.json, no URL): a log line, no exception into OBS
        script.script_load({})
        standin.press("livefilter.pause")
        wait_for(lambda: standin.log, what="log line")
        assert standin.log[0][0] == LOG_WARNING and "livefilter is not running" in standin.log[0][1]
        # the dock URL pasted into the script's settings
        script.script_update({"control_url": server.url + "&layout=dock"})
        standin.press("livefilter.pause")
        wait_for(lambda: pipeline.controls.paused, what="pause through the pasted URL")
        # a wrong token: the API's own message in the log
        script.script_update({"control_url": f"{server.base_url}/?token=wrong-token-wrong-token"})
        standin.log.clear()
        standin.press("livefilter.pause")
        wait_for(lambda: standin.log, what="log line")
        assert standin.log[0][1] == "livefilter: wrong token"
        assert pipeline.controls.paused
        script.script_unload()
    finally:
        server.stop()


@pytest.mark.skipif(not REAL_OBSPYTHON.is_file(), reason=f"OBS's {REAL_OBSPYTHON} is not installed")
def test_standin_matches_obs_functions():
    """Everything the script calls exists in OBS's obspython (the SWIG part; the frontend hotkey and
    script_log functions are added by OBS's C side at load time, so they are not in this file)."""
    real = REAL_OBSPYTHON.read_text("utf-8", errors="replace")
    source = SCRIPT_PATH.read_text("utf-8")
    import re

    used = set(re.findall(r"\bobs\.([A-Za-z_][A-Za-z0-9_]*)", source))
    runtime_added = {"obs_hotkey_register_frontend", "script_log"}
    for name in sorted(used - runtime_added):
        assert re.search(rf"^(def )?{name}\b", real, re.M), f"{name} is not in OBS's obspython"
    assert json.dumps(sorted(used))  # the script uses OBS's API only through `obs.`
