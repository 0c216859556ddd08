"""Background and grade through the control API (loopback + token, as every control)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from test_control import Client, client, looks_dir, make_frame, pipeline, server  # noqa: F401 - fixtures
from livefilter.infra.paths import user_backgrounds_dir


def test_scene_through_the_api(client, pipeline):  # noqa: F811
    status, body = client.json("POST", "/api/scene", {"background": "blur", "blur": 0.9, "grade_strength": 0.4})
    assert status == 200, body
    scene = pipeline.controls.scene
    assert scene.background == "blur" and scene.blur == 0.9 and scene.grade_strength == 0.4
    assert body["state"]["scene"] == {"background": "blur", "blur": 0.9, "grade": True, "grade_strength": 0.4,
                                      "source": None}
    frame = make_frame()
    out = pipeline.process(frame.copy())
    assert np.abs(out.astype(int) - frame).mean() > 1  # the background is blurred now
    assert client.json("POST", "/api/scene", {"background": None})[0] == 200
    assert pipeline.controls.scene.background is None and pipeline.controls.scene.blur == 0.9


def test_replace_takes_a_file_of_the_backgrounds_folder_by_name(client, pipeline):  # noqa: F811
    folder = user_backgrounds_dir()
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "beach.jpg"), np.full((90, 160, 3), (30, 160, 220), np.uint8))
    status, body = client.json("GET", "/api/state")
    assert body["backgrounds"] == ["beach.jpg"]
    status, body = client.json("POST", "/api/scene", {"background": "replace", "source": "beach.jpg"})
    assert status == 200, body
    assert pipeline.controls.scene.source == folder / "beach.jpg"


@pytest.mark.parametrize("raw, status, message", [
    (b'{"background": "paint"}', 400, "background must be"),
    (b'{"blur": 3}', 400, "blur must be"),
    (b'{"blur": "a lot"}', 400, "blur must be"),
    (b'{"grade": "yes"}', 400, "true or false"),
    (b'{"hue": 1}', 400, "scene takes"),
    (b'{}', 400, "scene takes"),
    (b'{"background": "replace"}', 400, "needs a source"),
    (b'{"source": "../../etc/passwd"}', 400, "name of a file"),
    (b'{"source": "/etc/hosts"}', 400, "name of a file"),
    (b'{"source": "nope.jpg"}', 404, "no background"),
])
def test_bad_scene_requests_change_nothing(client, pipeline, raw, status, message):  # noqa: F811
    before = pipeline.controls
    got, body = client.json("POST", "/api/scene", raw=raw)
    assert got == status and message in body["error"], body
    assert pipeline.controls is before


def test_obs_scenes_switch_the_background(pipeline):  # noqa: F811
    from livefilter.control.controller import Controller
    from livefilter.obs import SceneLooks
    from livefilter.settings.profiles import ProfileStore
    from livefilter.settings.userconfig import ObsSettings

    folder = user_backgrounds_dir()
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "beach.jpg"), np.full((90, 160, 3), 200, np.uint8))
    settings = ObsSettings.from_json({"scene_looks": {"Gaming": "ident"}, "pause_scenes": [], "scene_backgrounds": {
        "Just Chatting": {"background": "blur", "blur": 0.8}, "Gaming": {"background": "keep"},
        "Beach": {"background": "replace", "source": "beach.jpg"}, "Gone": {"background": "replace", "source": "x.jpg"}}})
    lines = []
    scenes = SceneLooks(Controller(pipeline, pipeline.registry, ProfileStore()), settings, lines.append)
    scenes.on_scene("Just Chatting")
    assert pipeline.controls.scene.background == "blur" and pipeline.controls.scene.blur == 0.8
    scenes.on_scene("Beach")
    assert pipeline.controls.scene.background == "replace" and pipeline.controls.scene.source.name == "beach.jpg"
    scenes.on_scene("Gaming")
    assert pipeline.controls.scene.background == "keep" and pipeline.controls.look == "ident"
    scenes.on_scene("Gone")
    scenes.on_scene("Gone")
    assert pipeline.controls.scene.background == "keep" and len(lines) == 1 and "x.jpg" in lines[0]


def test_obs_background_cli(_isolated_home):
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True,
                              env=dict(os.environ, COLUMNS="200"), cwd=REPO_ROOT, timeout=120)

    r = cli("obs", "background", "Just Chatting=blur", "Intro=replace:beach.jpg", "--blur", "0.7")
    assert r.returncode == 0, r.stderr
    assert "background blur 0.70" in r.stdout and "replace with beach.jpg" in r.stdout
    saved = json.loads((_isolated_home / "config" / "config.json").read_text())["obs"]["scene_backgrounds"]
    assert saved == {"Intro": {"background": "replace", "source": "beach.jpg"},
                     "Just Chatting": {"background": "blur", "blur": 0.7}}
    for bad in ("Intro=paint", "Intro=replace", "Intro=replace:../x.jpg", "no-equals"):
        r = cli("obs", "background", bad)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, bad
    assert cli("obs", "unmap", "Intro").returncode == 0
