"""The compact control panel as an OBS Custom Browser Dock: real headless Chromium at 360 px wide.

Opens the URL `livefilter obs dock` prints (``&layout=dock``) and, separately, the plain panel URL in
a 360 px window (the compact layout also applies to any narrow window), checks that the dock's
controls — pause, the look gallery, strength, the audio-sync number — are all there, inside the
width and painted in the screenshot, and drives the pipeline from them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from test_control_browser import By, browser, live  # noqa: F401 - fixtures
from waiting import wait_for


SCREENSHOT = Path(os.environ.get("LIVEFILTER_DOCK_SCREENSHOT", "/tmp/dock.png"))
WIDTH = 360
DOCK_CONTROLS = ("#pause", "#gallery", "#strength", ".strength-row", "#sync-advice", "#latency-pill")


def set_width(d, width: int, height: int = 760) -> None:
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def rect(d, selector: str) -> dict:
    return d.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {x: r.left, y: r.top, w: r.width, h: r.height};", selector)


def check_painted(png: np.ndarray, r: dict, what: str) -> None:
    """The element's pixels in the screenshot are not flat background: the control is really drawn."""
    x0, y0 = max(0, int(r["x"])), max(0, int(r["y"]))
    x1, y1 = min(png.shape[1], int(r["x"] + r["w"])), min(png.shape[0], int(r["y"] + r["h"]))
    assert x1 - x0 >= 8 and y1 - y0 >= 8, f"{what} is not on screen: {r}"
    crop = png[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    assert crop.std(axis=0).max() > 6.0, f"{what} looks blank in the screenshot"


def test_compact_dock_at_360px(live, browser):
    pipeline, server = live
    d = browser
    set_width(d, WIDTH)
    d.get(server.url + "&layout=dock")
    wait_for(lambda: d.find_element(By.ID, "conn").get_attribute("data-state") == "live", what="connected")
    assert d.execute_script("return document.documentElement.dataset.layout") == "dock"
    assert d.execute_script("return window.innerWidth") == WIDTH
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, ".look")) == 3, what="looks")
    wait_for(lambda: "Sync Offset to" in d.find_element(By.ID, "sync-advice").text, what="sync advice")
    offset = pipeline.stats.output_latency.sync_offset_ms()
    assert offset is not None
    wait_for(lambda: d.find_element(By.ID, "latency").text.endswith(" ms"), what="latency pill")
    advice = d.find_element(By.ID, "sync-advice").text
    assert advice.startswith("Set your mic's Sync Offset to ") and advice.endswith(" ms")

    # Everything a streamer needs is visible and inside 360 px; the rest is out of the way.
    assert d.execute_script("return document.documentElement.scrollWidth") <= WIDTH
    for sel in DOCK_CONTROLS:
        el = d.find_element(By.CSS_SELECTOR, sel)
        assert el.is_displayed(), sel
        r = rect(d, sel)
        assert r["x"] >= 0 and r["x"] + r["w"] <= WIDTH + 0.5, (sel, r)
    for sel in (".preview-card", ".stats-card", ".edits", ".profiles", ".create-card"):
        assert not d.find_element(By.CSS_SELECTOR, sel).is_displayed(), sel
    tiles = [rect(d, f'.look[data-look="{n}"]') for n in ("glam", "natural", "noir")]
    assert all(t["x"] + t["w"] <= WIDTH for t in tiles) and len({round(t["y"]) for t in tiles}) == 1  # a compact grid: 3 in a row
    wait_for(lambda: d.execute_script(
        "const i = document.querySelector('.look[data-look=glam] img'); return i && i.complete && i.naturalWidth"),
        what="look thumbnail")
    time.sleep(0.3)  # one more state update painted

    png = cv2.imdecode(np.frombuffer(d.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
    assert png.shape[1] == WIDTH
    for sel in DOCK_CONTROLS:
        check_painted(png, rect(d, sel), sel)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(SCREENSHOT), png)

    # The dock drives the pipeline.
    d.find_element(By.CSS_SELECTOR, '.look[data-look="noir"]').click()
    wait_for(lambda: pipeline.controls.look == "noir", what="look from the dock")
    d.find_element(By.ID, "pause").click()
    wait_for(lambda: pipeline.controls.paused, what="pause from the dock")
    d.find_element(By.ID, "strength").send_keys("\ue011")  # Home
    wait_for(lambda: pipeline.controls.strength == 0.0, what="strength from the dock")
    # No live picture is fetched in the dock (OBS shows it already).
    assert d.find_element(By.ID, "preview").get_attribute("data-seq") is None
    severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_plain_url_in_a_narrow_window_is_compact_and_wide_is_full(live, browser):
    pipeline, server = live
    d = browser
    set_width(d, WIDTH)
    d.get(server.url)
    wait_for(lambda: d.execute_script("return document.documentElement.dataset.layout") == "dock", what="compact")
    set_width(d, 1280, 900)
    wait_for(lambda: d.execute_script("return document.documentElement.dataset.layout") == "full", what="full")
    wait_for(lambda: d.find_element(By.CSS_SELECTOR, ".preview-card").is_displayed(), what="preview shown")
    assert d.find_element(By.CSS_SELECTOR, ".sync-card").is_displayed()
    # ?layout=full keeps the full panel even in a narrow dock ("Full panel" link)
    set_width(d, WIDTH)
    d.get(server.url + "&layout=full")
    wait_for(lambda: d.find_element(By.ID, "conn").get_attribute("data-state") == "live", what="connected")
    assert d.execute_script("return document.documentElement.dataset.layout") == "full"
