"""livefilter hotkeys for OBS Studio (Tools -> Scripts -> +, then Settings -> Hotkeys).

Registers five OBS hotkeys -- next / previous look, strength up / down, pause / resume the look --
that call the local livefilter control API. OBS runs this file with its own Python, so it uses the
standard library only. It finds the running livefilter through the ``control.json`` file that
``livefilter run`` writes, or through the dock URL pasted into the script's settings
(``livefilter obs dock`` prints it). Requests run on one background thread, in the order the keys
were pressed (two quick "strength up" presses add 0.2), never on OBS's UI thread; a failure is
logged in OBS's script log and never raises into OBS.
"""

import json
import os
import queue
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import obspython as obs

STEP = 0.1
TIMEOUT_S = 2.0
URL_SETTING = "control_url"

_hotkey_ids = {}
_control_url = ""
_actions = queue.Queue()
_worker = None


# -- where livefilter is -------------------------------------------------------------------------
def data_dir():
    if os.environ.get("LIVEFILTER_HOME"):
        return Path(os.environ["LIVEFILTER_HOME"]) / "data"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "livefilter"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "livefilter"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "livefilter"


def endpoint():
    """(base URL, token) from the script's URL setting, else from the running livefilter's control.json."""
    if _control_url:
        parts = urllib.parse.urlsplit(_control_url)
        token = urllib.parse.parse_qs(parts.query).get("token", [""])[0]
        return f"{parts.scheme}://{parts.netloc}", token
    info = json.loads((data_dir() / "control.json").read_text("utf-8"))
    return info["base_url"], info["token"]


def call(path, body=None):
    """GET (no body) or POST a JSON body to the control API; the JSON answer, or None on any failure."""
    try:
        base, token = endpoint()
    except (OSError, ValueError, KeyError):
        log("livefilter is not running (start `livefilter run`, or paste its dock URL in this script's settings)")
        return None
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode("utf-8"),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        try:
            log(f"livefilter: {json.load(e).get('error', e.reason)}")
        except ValueError:
            log(f"livefilter: HTTP {e.code}")
    except (OSError, ValueError) as e:
        log(f"livefilter is not reachable: {e}")
    return None


def log(message):
    obs.script_log(obs.LOG_WARNING, message)


# -- actions ---------------------------------------------------------------------------------------
def step_look(direction):
    state = call("/api/state")
    if not state or not state.get("looks"):
        return
    names = [lk["name"] for lk in state["looks"]]
    i = names.index(state["look"]) if state.get("look") in names else -direction
    call("/api/look", {"name": names[(i + direction) % len(names)]})


def step_strength(delta):
    state = call("/api/state")
    if state:
        value = min(1.0, max(0.0, round(state["strength"] + delta, 4)))
        call("/api/strength", {"value": value})


def toggle_pause():
    state = call("/api/state")
    if state:
        call("/api/pause", {"paused": not state["paused"]})


HOTKEYS = (
    ("livefilter.next_look", "livefilter: next look", lambda: step_look(1)),
    ("livefilter.previous_look", "livefilter: previous look", lambda: step_look(-1)),
    ("livefilter.strength_up", "livefilter: strength up", lambda: step_strength(STEP)),
    ("livefilter.strength_down", "livefilter: strength down", lambda: step_strength(-STEP)),
    ("livefilter.pause", "livefilter: pause / resume look", toggle_pause),
)


def _work():
    while True:
        action = _actions.get()
        if action is None:
            return
        try:
            action()
        except Exception as e:  # never let one failed action stop the hotkeys
            log(f"livefilter: {type(e).__name__}: {e}")


def in_background(action):
    global _worker
    if _worker is None or not _worker.is_alive():
        _worker = threading.Thread(target=_work, name="livefilter-hotkeys", daemon=True)
        _worker.start()
    _actions.put(action)


def make_callback(action):
    def pressed(is_pressed):
        if is_pressed:  # OBS calls on press and on release
            in_background(action)
    return pressed


# -- OBS script entry points -----------------------------------------------------------------------
def script_description():
    return ("<b>livefilter</b> hotkeys: next / previous look, strength up / down, pause. "
            "Set the keys in Settings → Hotkeys. Needs <code>livefilter run</code> running.")


def script_properties():
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(props, URL_SETTING, "livefilter dock URL (optional)", obs.OBS_TEXT_PASSWORD)
    return props


def script_update(settings):
    global _control_url
    _control_url = (obs.obs_data_get_string(settings, URL_SETTING) or "").strip()


def script_load(settings):
    script_update(settings)
    for name, description, action in HOTKEYS:
        hotkey_id = obs.obs_hotkey_register_frontend(name, description, make_callback(action))
        _hotkey_ids[name] = hotkey_id
        saved = obs.obs_data_get_array(settings, name)
        obs.obs_hotkey_load(hotkey_id, saved)
        obs.obs_data_array_release(saved)


def script_save(settings):
    for name, hotkey_id in _hotkey_ids.items():
        saved = obs.obs_hotkey_save(hotkey_id)
        obs.obs_data_set_array(settings, name, saved)
        obs.obs_data_array_release(saved)


def script_unload():
    global _worker
    for hotkey_id in _hotkey_ids.values():
        obs.obs_hotkey_unregister(hotkey_id)
    _hotkey_ids.clear()
    if _worker is not None:
        _actions.put(None)
        _worker = None
