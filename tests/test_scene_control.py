"""Background and grade through the control API (loopback + token, as every control)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from test_control import Client, client, looks_dir, make_frame, pipeline, server  # noqa: F401 - fixtures
from livefilter.settings.paths import user_backgrounds_dir


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
