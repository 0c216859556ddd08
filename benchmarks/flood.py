"""Does the stream keep its frames while the control panel or OBS is flooded?

    python -m benchmarks.flood VIDEO [--seconds 8] [-o benchmarks/results/flood-<device>.json]

A host pipeline styles a 720p clip fed as a camera (30 fps, newest frame kept) while, in turn: nothing
else happens; photos are uploaded to the panel's creation endpoint as fast as six clients can send them
(large PNGs, the probe's "six 40 MP PNGs" case: 6000x6600, under the 20 MiB upload limit); and an
obs-websocket peer sends scene-change events as fast as the connection takes them (the probe's ~6 k
events/s). Each condition reports the stream's end-to-end latency p50 / p99, fps and dropped frames, and
the process's peak RSS. Needs the dev extras (``websockets`` for the OBS peer, ``tests/obs_ws_server.py``,
run in a process of its own as OBS would be).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import psutil

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]


def _pipeline(video: str, seconds: float):
    from benchmarks.replay import PacedSource, decode_frames
    from livefilter.pipeline.session import PipelineSettings, build_pipeline

    frames = decode_frames(video, (1280, 720), 150)
    p = build_pipeline(PipelineSettings(look="glam", backend="onnxruntime-cpu", max_faces=1))
    return p, lambda: PacedSource(frames, 30.0, int(30 * seconds))


def _measure(pipeline, make_source) -> dict:
    from livefilter.sinks.null_sink import NullSink

    pipeline.stats.__init__()
    src = make_source()
    t0 = time.perf_counter()
    try:
        n = pipeline.run(src, NullSink())
    finally:
        src.close()
    e2e = pipeline.stats.percentiles("end_to_end")
    return {"fps": round(n / (time.perf_counter() - t0), 1), "e2e_p50_ms": round(e2e["p50"], 1),
            "e2e_p99_ms": round(e2e["p99"], 1), "dropped": src.dropped,
            "peak_rss_mb": round(psutil.Process().memory_info().rss / 2**20)}


def _big_png() -> bytes:
    h, w = 6600, 6000
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.float32)[None].astype(np.uint8)
    img[..., 1] = np.linspace(0, 255, h, dtype=np.float32)[:, None].astype(np.uint8)
    img[..., 2] = 128
    ok, data = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return data.tobytes()


def upload_flood(pipeline, make_source) -> dict:
    from livefilter.control import ControlServer, Controller
    from livefilter.control.creation import CreationService
    from livefilter.looks.registry import LookRegistry
    from livefilter.settings.profiles import ProfileStore

    controller = Controller(pipeline, LookRegistry(), ProfileStore())
    server = ControlServer(controller, creation=CreationService(controller)).start()
    blob = _big_png()
    stop = threading.Event()
    sent = [0]

    def client(k: int) -> None:
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            headers = {"Authorization": f"Bearer {server.token}", "Host": f"127.0.0.1:{server.port}",
                       "Content-Type": "image/png", "X-Filename": f"big{k}.png"}
            try:
                conn.request("POST", "/api/create/photo", body=blob + bytes([k, sent[0] % 251]), headers=headers)
                conn.getresponse().read()
                sent[0] += 1
                conn.request("POST", "/api/create/clear", body=b"{}", headers={**headers,
                                                                                "Content-Type": "application/json"})
                conn.getresponse().read()
            except OSError:
                pass
            finally:
                conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(6)]
    for t in threads:
        t.start()
    try:
        result = _measure(pipeline, make_source)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        server.stop()
    return result | {"uploads": sent[0], "upload_mb": round(len(blob) / 2**20, 1)}


OBS_PEER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from obs_ws_server import FakeObs
obs = FakeObs(password="pw", scenes=["A", "B"]).start()
print(obs.port, flush=True)
while obs.connected_clients() < 2:
    time.sleep(0.05)
sys.stdin.readline()  # flood once told to
sent = 0
while True:
    sent += obs.flood_scenes(["A", "B"], 0.5)
    print(sent, flush=True)
"""


def obs_flood(pipeline, make_source) -> dict:
    """The obs-websocket peer runs in its own process (as OBS does), so its sending costs this process
    nothing; only livefilter's link receives the flood."""
    import subprocess

    from livefilter.control import Controller
    from livefilter.looks.registry import LookRegistry
    from livefilter.obs import ObsLink, ObsTarget, SceneLooks
    from livefilter.settings.profiles import ProfileStore
    from livefilter.settings.userconfig import ObsSettings

    peer = subprocess.Popen([sys.executable, "-c", OBS_PEER, str(REPO / "tests")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(peer.stdout.readline())
        controller = Controller(pipeline, LookRegistry(), ProfileStore())
        scenes = SceneLooks(controller, ObsSettings({"A": "glam", "B": "glam"}, ()), lambda m: None)
        link = ObsLink(ObsTarget("127.0.0.1", port, "pw"), scenes.on_scene, notify=lambda m: None).start()
        try:
            time.sleep(2.0)  # connected (both clients) before the flood
            peer.stdin.write("go\n")
            peer.stdin.flush()
            result = _measure(pipeline, make_source)
        finally:
            link.close()
        peer.kill()
        counts = [int(x) for x in peer.stdout.read().split() if x.isdigit()]
        return result | {"events_sent": counts[-1] if counts else None}
    finally:
        if peer.poll() is None:
            peer.kill()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("-o", "--out", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    pipeline, make_source = _pipeline(args.video, args.seconds)
    _measure(pipeline, make_source)  # warm-up
    doc = {"video": Path(args.video).name, "seconds": args.seconds,
           "idle": _measure(pipeline, make_source),
           "upload_flood": upload_flood(pipeline, make_source),
           "obs_event_flood": obs_flood(pipeline, make_source)}
    text = json.dumps(doc, indent=2)
    sys.stdout.write(text + "\n")
    if args.out:
        from livefilter.infra.atomic import write_text

        write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
