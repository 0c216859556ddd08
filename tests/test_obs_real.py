"""livefilter with a real OBS Studio (Debian's obs-studio, under Xvfb), through obs-websocket.

OBS starts with a fresh configuration in a temporary HOME: its WebSocket server on a free port with
a password, a scene collection with three scenes, livefilter's hotkey script
loaded by OBS's own script tool; a microphone input is added. Then ``livefilter run --obs`` follows OBS's scenes, sets the mic's
Sync Offset, and an OBS hotkey (triggered through obs-websocket) reaches livefilter through the
script. Finally OBS quits and starts again, and livefilter reconnects by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, shared_path
from livefilter.obs.dock import SCRIPT_PATH
from onnx_looks import make_look
from waiting import wait_for as _wait_for

pytestmark = pytest.mark.slow
obsws = pytest.importorskip("obsws_python", reason="needs the obs extra: pip install 'livefilter[obs]'")
OBS = shutil.which("obs")
XVFB = shutil.which("Xvfb")
if OBS is None or XVFB is None:
    pytest.skip("needs OBS Studio and Xvfb (apt-get install obs-studio xvfb)", allow_module_level=True)

PASSWORD = "livefilter-real-obs"
SCENES = ("Just Chatting", "Gaming", "BRB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    return _wait_for(condition, timeout, what, tolerate=(Exception,))  # OBS / livefilter not up yet


def obs_config(home: Path, port: int) -> None:
    cfg = home / ".config" / "obs-studio"
    (cfg / "basic" / "scenes").mkdir(parents=True)
    (cfg / "basic" / "profiles" / "livefilter").mkdir(parents=True)
    (cfg / "global.ini").write_text(
        "[General]\nFirstRun=true\nLastVersion=486539266\n"
        "[Basic]\nProfile=livefilter\nProfileDir=livefilter\nSceneCollection=livefilter\nSceneCollectionFile=livefilter\n"
        f"[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nServerPort={port}\nAlertsEnabled=false\n"
        f"AuthRequired=true\nServerPassword={PASSWORD}\n")
    (cfg / "basic" / "profiles" / "livefilter" / "basic.ini").write_text(
        "[General]\nName=livefilter\n[Video]\nBaseCX=640\nBaseCY=360\nOutputCX=640\nOutputCY=360\nFPSCommon=30\n")
    scene = lambda name: {"id": "scene", "versioned_id": "scene", "name": name,  # noqa: E731
                          "settings": {"items": [], "id_counter": 0, "custom_size": False}}
    collection = {
        "name": "livefilter", "current_scene": SCENES[0], "current_program_scene": SCENES[0],
        "scene_order": [{"name": s} for s in SCENES], "groups": [], "transitions": [],
        "current_transition": "Cut", "transition_duration": 0,
        "sources": [scene(s) for s in SCENES],
        "modules": {"scripts-tool": [{"path": str(SCRIPT_PATH), "settings": {}}]},
    }
    (cfg / "basic" / "scenes" / "livefilter.json").write_text(json.dumps(collection))


class RealObs:
    def __init__(self, home: Path, port: int, lf_home: Path, log: Path) -> None:
        self.home, self.port, self.lf_home, self.log = home, port, lf_home, log
        self.xvfb = self.proc = None

    def start(self) -> "RealObs":
        display = next(n for n in range(140, 400) if not Path(f"/tmp/.X{n}-lock").exists()
                       and not Path(f"/tmp/.X11-unix/X{n}").exists())
        self.xvfb = subprocess.Popen([XVFB, f":{display}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(Path(f"/tmp/.X11-unix/X{display}").exists, timeout=30, what="Xvfb")
        env = dict(os.environ, HOME=str(self.home), DISPLAY=f":{display}", LIBGL_ALWAYS_SOFTWARE="1",
                   LIVEFILTER_HOME=str(self.lf_home), QT_QPA_PLATFORM="xcb")
        env.pop("XDG_CONFIG_HOME", None)
        self.proc = subprocess.Popen([OBS, "--disable-shutdown-check", "--disable-updater", "--minimize-to-tray"],
                                     env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=self.home)
        return self

    def client(self):
        return wait_for(lambda: obsws.ReqClient(host="127.0.0.1", port=self.port, password=PASSWORD, timeout=5),
                        timeout=90, what="OBS's WebSocket server")

    def stop(self) -> None:
        for p in (self.proc, self.xvfb):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def test_livefilter_with_real_obs(tmp_path):
    video = shared_path("video", "liveportrait", "d0.mp4")
    port = free_port()
    obs_home, lf_home = tmp_path / "obs-home", tmp_path / "lf-home"
    obs_config(obs_home, port)
    make_look(lf_home / "data" / "looks", "glam", kind="shift", shift=(0.4, 0.0, 0.1))
    make_look(lf_home / "data" / "looks", "natural", kind="identity")
    env = dict(os.environ, LIVEFILTER_HOME=str(lf_home), COLUMNS="200")
    for args in (("obs", "map", "Just Chatting=glam", "Gaming=natural"), ("obs", "pause", "BRB")):
        r = subprocess.run([sys.executable, "-m", "livefilter", *args], env=env, cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    pw = tmp_path / "obs-password"
    pw.write_text(PASSWORD + "\n")
    log = tmp_path / "obs.log"
    obs = RealObs(obs_home, port, lf_home, log).start()
    run = None
    try:
        req = obs.client()
        assert req.get_version().obs_web_socket_version.startswith("5.")
        req.send("CreateInput", {"sceneName": "Just Chatting", "inputName": "Mic", "inputKind": "pulse_input_capture",
                                 "inputSettings": {}, "sceneItemEnabled": True})
        run = subprocess.Popen(
            [sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null", "--loop", "--look", "natural",
             "--obs", f"ws://127.0.0.1:{port}", "--obs-password-file", str(pw), "--obs-sync-input", "Mic",
             "--duration", "400"],
            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        info_path = lf_home / "data" / "control.json"
        wait_for(info_path.exists, timeout=90, what="livefilter's control.json")
        info = json.loads(info_path.read_text())

        def state():
            q = urllib.request.Request(info["base_url"] + "/api/state", headers={"Authorization": "Bearer " + info["token"]})
            with urllib.request.urlopen(q, timeout=5) as res:
                return json.load(res)

        # OBS's program scene ("Just Chatting") applies on connecting; then scene switches switch looks.
        wait_for(lambda: state()["look"] == "glam", what="look of OBS's current scene")
        req.set_current_program_scene("Gaming")
        wait_for(lambda: state()["look"] == "natural", what="Gaming -> natural")
        req.set_current_program_scene("BRB")
        wait_for(lambda: state()["paused"], what="BRB pauses")
        req.set_current_program_scene("Just Chatting")
        wait_for(lambda: state()["look"] == "glam" and not state()["paused"], what="Just Chatting -> glam")
        assert state()["obs"]["scene"] == "Just Chatting"

        # The measured delay becomes the mic's Sync Offset in OBS.
        offset = wait_for(lambda: req.get_input_audio_sync_offset("Mic").input_audio_sync_offset, timeout=120,
                          what="Sync Offset set in OBS")
        assert offset == state()["obs"]["sync"]["applied_ms"]

        # OBS's hotkey (pressed through obs-websocket) runs the script, which calls livefilter.
        wait_for(lambda: "livefilter" in log.read_text(errors="replace") and b"livefilter_obs.py" in log.read_bytes(),
                 timeout=30, what="the script loaded by OBS")
        req.send("TriggerHotkeyByName", {"hotkeyName": "livefilter.next_look"})
        wait_for(lambda: state()["look"] == "natural", what="next look from the OBS hotkey")
        req.send("TriggerHotkeyByName", {"hotkeyName": "livefilter.pause"})
        wait_for(lambda: state()["paused"], what="pause from the OBS hotkey")
        req.send("TriggerHotkeyByName", {"hotkeyName": "livefilter.pause"})
        wait_for(lambda: not state()["paused"], what="resume from the OBS hotkey")

        # OBS quits and comes back: livefilter reconnects and follows scenes again.
        req.disconnect()
        obs.stop()
        wait_for(lambda: state()["obs"]["state"] == "waiting", what="OBS gone")
        obs = RealObs(obs_home, port, lf_home, log).start()
        req = obs.client()
        wait_for(lambda: state()["obs"]["state"] == "connected", timeout=90, what="reconnected to OBS")
        req.set_current_program_scene("Gaming")
        wait_for(lambda: state()["look"] == "natural", what="scene switch after OBS restarted")
        req.disconnect()
    finally:
        if run is not None:
            run.terminate()
            stdout, stderr = run.communicate(timeout=60)
        obs.stop()
    assert run.returncode == 143, stderr  # SIGTERM: finalised, then the conventional code
    assert f"connected to OBS at ws://127.0.0.1:{port}" in stdout and "reconnecting" in stdout
    assert "Traceback" not in stderr
