"""Creating a look from the control panel: the upload API's limits and checks, a background creation that
never stops the stream, and the new-look card in a real headless Chromium."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_path
from fakes import FixedFaceTracker, running
from livefilter.control import ControlServer, Controller, PreviewTap
from livefilter.control.creation import CreationService
from livefilter.looks.registry import LookRegistry
from livefilter.infra.paths import user_looks_dir
from livefilter.pipeline.host import LiveControls, Pipeline
from livefilter.settings.profiles import ProfileStore
from livefilter.sinks.null_sink import NullSink
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from onnx_looks import make_look

MAKEUP = ("faces", "makeup_beautygan_honlan", "makeup")


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from family_student import build_student_look

    return build_student_look(tmp_path_factory.mktemp("student"), None)


class Source:
    """A live source at ~15 fps until stopped (a moving test picture)."""

    def __init__(self) -> None:
        from test_control import make_frame
        from livefilter.types import SourceInfo

        self.base = make_frame()
        self.info = SourceInfo(self.base.shape[1], self.base.shape[0], 15.0, True)
        self.index = 0

    def read(self):
        from livefilter.types import CapturedFrame

        time.sleep(1 / 15)
        self.index += 1
        return CapturedFrame(np.roll(self.base, self.index * 4, axis=1), self.index, time.perf_counter())

    def close(self):
        pass


@pytest.fixture
def live(tmp_path, student_dir):
    from livefilter.looks.create import LookCreator

    d = tmp_path / "looks"
    make_look(d, "glam", kind="shift", shift=(0.5, -0.1, 0.2))
    reg = LookRegistry([d, user_looks_dir()])
    pipeline = Pipeline(FixedFaceTracker(), reg.get, lambda lk: OnnxRuntimeTranslator(lk, threads=1),
                        LiveControls(look="glam", strength=0.8), max_faces=2)
    controller = Controller(pipeline, reg, ProfileStore())
    creation = CreationService(controller, lambda: LookCreator(reg, student=str(student_dir), threads=1))
    tap = PreviewTap()
    server = ControlServer(controller, preview=tap, creation=creation).start()
    with running(pipeline, Source(), NullSink(), tap.offer):
        yield pipeline, server
    server.stop()


def call(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         token: str | None = "ok") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    h = {"Host": f"127.0.0.1:{server.port}"}
    if token is not None:
        h["Authorization"] = f"Bearer {server.token if token == 'ok' else token}"
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    res = conn.getresponse()
    data = json.loads(res.read() or b"{}")
    conn.close()
    return res.status, data


def upload(server, path: Path, **kw) -> tuple[int, dict]:
    return call(server, "POST", "/api/create/photo", path.read_bytes(),
                {"Content-Type": "image/jpeg", "X-Filename": path.name}, **kw)


def wait_done(server, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, s = call(server, "GET", "/api/create/status")
        if s["state"] in ("done", "failed"):
            return s
        time.sleep(0.3)
    raise AssertionError("look creation did not finish")


def test_upload_api_checks_token_type_size_and_count(live):
    pipeline, server = live
    photo = sorted(shared_path(*MAKEUP).iterdir())[0]
    assert upload(server, photo, token=None)[0] == 401
    assert upload(server, photo, token="x" * 32)[0] == 403
    status, body = call(server, "POST", "/api/create/photo", b"hello" * 20, {"Content-Type": "text/plain"})
    assert status == 415
    status, body = call(server, "POST", "/api/create/photo", b"PK\x03\x04" + b"\x00" * 200,
                        {"Content-Type": "image/jpeg", "X-Filename": "bomb.jpg"})
    assert status == 400 and body["error"] == "bomb.jpg: not an image"
    # a too-large upload is refused from its Content-Length, before its body is read
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/api/create/photo")
    for k, v in (("Authorization", f"Bearer {server.token}"), ("Content-Type", "image/jpeg"),
                 ("Content-Length", str(13 << 20))):
        conn.putheader(k, v)
    conn.endheaders()
    res = conn.getresponse()
    assert res.status == 413 and "too large" in json.loads(res.read())["error"]
    conn.close()
    status, body = call(server, "POST", "/api/create/start", json.dumps({"name": "x"}).encode(),
                        {"Content-Type": "application/json"})
    assert status == 400 and "at least 3 photos" in body["error"]
    assert upload(server, photo)[1]["photos"] == 1
    assert upload(server, photo)[1]["photos"] == 1  # the same photo twice counts once
    for bad in ({"name": "Bad Name"}, {"name": "ok", "regions": ["nose"]}, {"name": "ok", "finetune": 60},
                {"name": "ok", "colour": 1}, {"name": "glam"}):
        status, body = call(server, "POST", "/api/create/start", json.dumps(bad).encode(),
                            {"Content-Type": "application/json"})
        assert status == 400, (bad, body)
    assert call(server, "POST", "/api/create/clear", b"{}", {"Content-Type": "application/json"})[1]["photos"] == 0
    assert call(server, "GET", "/api/create/status")[1]["state"] == "idle"


def test_creation_runs_in_the_background_while_the_stream_keeps_going(live):
    pipeline, server = live
    photos = sorted(p for p in shared_path(*MAKEUP).iterdir() if p.is_file())
    for p in photos:
        assert upload(server, p)[0] == 200
    _, s0 = call(server, "GET", "/api/state")
    status, body = call(server, "POST", "/api/create/start", json.dumps({"name": "panel-look", "title": "Panel"}).encode(),
                        {"Content-Type": "application/json"})
    assert status == 200 and body["status"]["state"] == "running"
    status, body = call(server, "POST", "/api/create/start", json.dumps({"name": "other"}).encode(),
                        {"Content-Type": "application/json"})
    assert status == 409  # one creation at a time
    assert upload(server, photos[0])[0] == 409
    done = wait_done(server)
    assert done["state"] == "done", done
    assert done["look"] == "panel-look" and done["progress"] == 1.0
    _, s1 = call(server, "GET", "/api/state")
    assert s1["frames"] > s0["frames"]  # frames kept flowing while the look was made
    assert "panel-look" in [lk["name"] for lk in s1["looks"]]
    assert (user_looks_dir() / "panel-look" / "look.json").is_file()
    assert not [p for p in user_looks_dir().iterdir() if p.name.startswith(".")]
    status, _ = call(server, "POST", "/api/look", json.dumps({"name": "panel-look"}).encode(),
                     {"Content-Type": "application/json"})
    assert status == 200


def test_new_look_card_in_a_real_browser(live):
    # importing the browser test module skips this test when Chromium or selenium is missing
    from test_control_browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    pipeline, server = live
    opts = Options()
    opts.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    d = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    try:
        d.get(server.url)
        wait = WebDriverWait(d, 20)
        wait.until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-state") == "live")
        photos = sorted(p for p in shared_path(*MAKEUP).iterdir() if p.is_file())
        d.find_element(By.ID, "create-files").send_keys("\n".join(str(p) for p in photos))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#create-photos li:not([data-bad])")) == len(photos))
        title = '<img src=x onerror="window.pwned=1">Mine'
        d.find_element(By.ID, "create-name").send_keys("browser-look")
        d.find_element(By.ID, "create-title").send_keys(title)
        for box in d.find_elements(By.CSS_SELECTOR, ".create-region"):
            if box.get_attribute("value") in ("brows", "skin"):
                box.click()
        d.find_element(By.ID, "create-start").click()
        WebDriverWait(d, 600).until(lambda d: "ready in the gallery" in d.find_element(By.ID, "create-status").text
                                    or "failed" in (d.find_element(By.ID, "create-progress").get_attribute("data-state")))
        assert "ready in the gallery" in d.find_element(By.ID, "create-status").text
        card = '.look[data-look="browser-look"]'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, card))
        assert d.find_element(By.CSS_SELECTOR, card + " .look-title").text == title  # shown as text
        assert not d.execute_script("return window.pwned")
        d.find_element(By.CSS_SELECTOR, card).click()
        deadline = time.monotonic() + 10
        while pipeline.controls.look != "browser-look" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipeline.controls.look == "browser-look"
        look = LookRegistry([user_looks_dir()]).get("browser-look")
        assert set(look.regions) <= {"lips", "eyes", "cheeks"}
    finally:
        d.quit()
