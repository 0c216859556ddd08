"""End to end: the control panel in a real headless Chromium, driving a running pipeline.

Needs Debian's ``chromium`` and ``chromium-driver`` packages (/usr/bin/chromium, /usr/bin/chromedriver)
and the ``selenium`` Python package; skipped with the reason when any is missing. No browser or driver
is ever downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fakes import FixedFaceTracker, running
from livefilter.control import ControlServer, Controller, PreviewTap
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.host import LiveControls, Pipeline
from livefilter.settings.profiles import ProfileStore
from livefilter.sinks.latency_probe import LatencyProbeSink
from livefilter.sinks.null_sink import NullSink
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from livefilter.types import CapturedFrame, SourceInfo
from onnx_looks import make_look
from test_control import make_frame, set_preview
from waiting import wait_for

CHROMIUM = Path(os.environ.get("LIVEFILTER_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("LIVEFILTER_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOT = Path(os.environ.get("LIVEFILTER_PANEL_SCREENSHOT", "/tmp/panel.png"))

if not CHROMIUM.is_file() or not CHROMEDRIVER.is_file():
    pytest.skip(f"headless browser test needs {CHROMIUM} and {CHROMEDRIVER} "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="headless browser test needs `pip install selenium`")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1000", "--force-device-scale-factor=1",
)


class LoopingSource:
    """A live-looking source: the same moving test picture at ~15 fps until stopped."""

    def __init__(self, fps: float = 15.0) -> None:
        self.base = make_frame()
        h, w = self.base.shape[:2]
        self.info = SourceInfo(w, h, fps, True)
        self.interval = 1.0 / fps
        self.index = 0
        self._next = time.perf_counter()

    def read(self):
        self._next += self.interval
        delay = self._next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        img = np.roll(self.base, self.index * 4, axis=1)  # the picture moves, so thumbnails differ
        self.index += 1
        return CapturedFrame(img, self.index, time.perf_counter())

    def close(self):
        pass


@pytest.fixture
def live(tmp_path):
    d = tmp_path / "looks"
    make_look(d, "glam", kind="shift", shift=(0.5, -0.1, 0.2))
    make_look(d, "natural", kind="identity")
    make_look(d, "noir", kind="shift", shift=(-0.4, -0.4, -0.4))
    thumb = np.zeros((120, 160, 3), np.uint8)
    thumb[:, :80] = (150, 120, 110)
    thumb[:, 80:] = (90, 60, 200)
    set_preview(d / "glam", cv2.imencode(".jpg", thumb)[1].tobytes())
    reg = LookRegistry([d])
    pipeline = Pipeline(FixedFaceTracker(), reg.get, lambda lk: OnnxRuntimeTranslator(lk, threads=1),
                        LiveControls(look="glam", strength=0.8), max_faces=2)
    tap = PreviewTap()
    server = ControlServer(Controller(pipeline, reg, ProfileStore()), preview=tap).start()
    sink = LatencyProbeSink(NullSink(), pipeline.stats.output_latency)  # the panel's delay / audio sync
    with running(pipeline, LoopingSource(), sink, tap.offer):
        yield pipeline, server
    server.stop()


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="lf-chromium-")
    opts = Options()
    opts.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_control_panel_end_to_end(live, browser):
    pipeline, server = live
    d = browser
    d.get(server.url)
    wait = WebDriverWait(d, 10)

    # The page connects, shows the live preview and the current state.
    wait.until(lambda d: d.find_element(By.ID, "conn").get_attribute("data-state") == "live")
    wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("data-seq"))
    assert d.find_element(By.ID, "preview-frame").get_attribute("data-empty") == "false"
    assert d.find_element(By.ID, "backend").text == "onnxruntime-cpu"
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".look")) == 3)
    assert d.find_element(By.CSS_SELECTOR, '.look[data-look="glam"]').get_attribute("aria-pressed") == "true"
    wait.until(lambda d: d.execute_script(
        "const i = document.querySelector('.look[data-look=glam] img'); return i && i.complete && i.naturalWidth"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.face-chip[data-track="0"]'))
    wait.until(lambda d: float(d.find_element(By.ID, "fps").text) > 1)

    # The preview thumbnail keeps updating.
    img = d.find_element(By.ID, "preview")
    seq0, src0 = int(img.get_attribute("data-seq")), img.get_attribute("src")
    wait.until(lambda d: int(img.get_attribute("data-seq")) > seq0 and img.get_attribute("src") != src0)
    assert d.execute_script("return arguments[0].naturalWidth", img) == 320

    # Move the strength slider with the keyboard, like a person would.
    slider = d.find_element(By.ID, "strength")
    slider.send_keys(Keys.HOME)
    wait_for(lambda: pipeline.controls.strength == 0.0, what="strength 0 from the slider")
    for _ in range(5):
        slider.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: abs(pipeline.controls.strength - 0.05) < 1e-6, what="strength 0.05 from the slider")
    assert d.find_element(By.ID, "strength-value").text == "5%"
    slider.send_keys(Keys.END)
    wait_for(lambda: pipeline.controls.strength == 1.0, what="strength 1 from the slider")

    d.find_element(By.ID, "warmth").send_keys(Keys.PAGE_UP)
    wait_for(lambda: pipeline.controls.edits.warmth > 0, what="warmth from the slider")

    # Switch the look from the gallery.
    d.find_element(By.CSS_SELECTOR, '.look[data-look="noir"]').click()
    wait_for(lambda: pipeline.controls.look == "noir", what="look switch")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '.look[data-look="noir"]').get_attribute("aria-pressed") == "true")
    assert d.find_element(By.ID, "look-name").text == "Noir"

    # A change made elsewhere (a Stream Deck, a hotkey) shows up in the page by itself.
    pipeline.update(strength=0.4)
    wait.until(lambda d: d.find_element(By.ID, "strength-value").text == "40%")

    # Face on/off, then pause.
    chip = '.face-chip[data-track="0"]'
    d.find_element(By.CSS_SELECTOR, chip).click()
    wait_for(lambda: pipeline.controls.disabled_tracks == frozenset({0}), what="face 0 switched off")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, chip).get_attribute("aria-pressed") == "false")
    d.find_element(By.CSS_SELECTOR, chip).click()
    wait_for(lambda: not pipeline.controls.disabled_tracks, what="face 0 switched on")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, chip).get_attribute("aria-pressed") == "true")
    d.find_element(By.ID, "pause").click()
    wait_for(lambda: pipeline.controls.paused, what="pause")
    wait.until(lambda d: d.find_element(By.ID, "paused-badge").is_displayed())
    d.find_element(By.ID, "pause").click()
    wait_for(lambda: not pipeline.controls.paused, what="resume")

    # One screenshot of the panel, for people to look at.
    pipeline.update(look="glam", strength=0.8)
    wait.until(lambda d: d.find_element(By.ID, "strength-value").text == "80%")
    d.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.5)  # let the thumbnail catch up
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(SCREENSHOT))

    # An invalid change from the page is refused with a visible message and nothing changes.
    before = pipeline.controls
    d.execute_script("document.getElementById('profile-name').value = '../bad'")
    d.find_element(By.ID, "profile-save").click()
    wait.until(lambda d: "profile name" in d.find_element(By.ID, "toast").text)
    assert pipeline.controls == before

    severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE" and "api/profile/save" not in e["message"]]
    assert not severe, severe


    # Without the token the page is refused (and so is a wrong one).
    d.get(server.base_url + "/")
    assert "missing token" in d.find_element(By.TAG_NAME, "body").text
    d.get(server.base_url + "/?token=wrong-token-wrong-token")
    assert "wrong token" in d.find_element(By.TAG_NAME, "body").text
    assert not d.find_elements(By.ID, "strength")
