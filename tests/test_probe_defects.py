"""Defects an adversarial probe found in looks create / install, the OBS link and settings files.

Each test fails on the code before its fix; CLI cases run the real entry point in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from livefilter.looks.registry import LookRegistry, recover_staging
from livefilter.infra.paths import user_looks_dir
from onnx_looks import make_look

REPO_ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=REPO_ROOT, timeout=300)


# -- 1: a replaced look is never lost -------------------------------------------------------------------
def _two_versions(tmp_path: Path):
    old = make_look(tmp_path / "v1", name="mine", shift=(0.1, 0, 0))
    new = make_look(tmp_path / "v2", name="mine", shift=(0.3, 0, 0))
    reg = LookRegistry()
    reg.install(old.root)
    return reg, old, new


def test_an_interrupt_between_the_two_renames_puts_the_old_look_back(tmp_path, monkeypatch):
    reg, old, new = _two_versions(tmp_path)
    installed = user_looks_dir() / "mine"
    before = (installed / "look.json").read_bytes()
    real_rename = Path.rename
    calls = []

    def rename(self, target):
        out = real_rename(self, target)
        calls.append(target)
        if len(calls) == 1:  # right after the old look was moved aside
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        reg.install(new.root, replace=True)
    monkeypatch.setattr(Path, "rename", real_rename)
    assert (installed / "look.json").read_bytes() == before  # the old look is where it was
    assert not [p for p in user_looks_dir().iterdir() if p.name.startswith(".install-")]


def test_a_look_left_aside_by_a_killed_install_comes_back_at_the_next_start(tmp_path):
    """The process is SIGKILLed right after the first rename: nothing can run then, so the next start
    puts the look back and removes the staging folder."""
    reg, old, new = _two_versions(tmp_path)
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from livefilter.looks.registry import LookRegistry
        real = Path.rename
        def rename(self, target):
            out = real(self, target)
            os.kill(os.getpid(), signal.SIGKILL)
            return out
        Path.rename = rename
        LookRegistry().install(Path({str(new.root)!r}), replace=True)
    """)
    p = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), cwd=REPO_ROOT, timeout=120)
    assert p.returncode == -signal.SIGKILL
    root = user_looks_dir()
    assert not (root / "mine").exists()  # only in the dead process's staging folder now
    assert [p for p in root.iterdir() if p.name.startswith(".install-")]
    r = cli("looks", "list")
    assert r.returncode == 0, r.stderr
    assert (root / "mine" / "look.json").is_file()
    assert json.loads((root / "mine" / "look.json").read_text())["name"] == "mine"
    assert not [p for p in root.iterdir() if p.name.startswith((".install-", ".create-", ".remove-"))]


def test_stale_staging_folders_go_but_a_live_process_keeps_its_own(tmp_path):
    root = user_looks_dir()
    root.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (root / f".create-{dead_pid}-abc" / "x").mkdir(parents=True)
    (root / f".install-{dead_pid}-def").mkdir()
    live = root / f".install-{os.getpid()}-ghi"
    live.mkdir()
    assert recover_staging(root) == []
    names = {p.name for p in root.iterdir()}
    assert live.name in names and not any(str(dead_pid) in n for n in names)



def _one_line_error(r: subprocess.CompletedProcess, *fragments: str) -> str:
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def _photos() -> str:
    from conftest import shared_path

    return str(shared_path("faces", "makeup_beautygan_honlan", "makeup"))


# -- 9: looks create checks what the finished look.json is checked for, before any work ----------------
@pytest.mark.parametrize("name", ["x\n", "Glam", "a b"])
def test_create_refuses_a_bad_name_before_reading_any_photo(name):
    _one_line_error(cli("looks", "create", name, "--from", _photos()), "look name")


@pytest.mark.parametrize("title", ["evil\u202etitle", "line\u2028break", "c1\x85control", "   "])
def test_create_refuses_a_bad_title_before_reading_any_photo(title):
    _one_line_error(cli("looks", "create", "ok-name", "--from", _photos(), "--title", title), "title")


# -- 11: regions a look made from photos cannot change are refused, not silently ignored ---------------
@pytest.mark.parametrize("regions", ["brows", "skin", "lips,brows"])
def test_create_refuses_regions_it_cannot_learn(regions):
    _one_line_error(cli("looks", "create", "ok-name", "--from", _photos(), "--regions", regions), "cannot change")


# -- 17: look names match whatever the case, and a near miss is suggested --------------------------------
def test_look_names_ignore_case_and_suggest_the_near_name():
    r = cli("looks", "show", "Glam")
    assert r.returncode == 0 and '"name": "glam"' in r.stdout, r.stderr
    _one_line_error(cli("looks", "show", "glm"), "did you mean 'glam'")


# -- 7: a path component over 255 bytes is one line, never an ENAMETOOLONG traceback --------------------
LONG = "n" * 300


@pytest.mark.parametrize("args", [
    ("run", "-i", f"/tmp/{LONG}.mp4", "-o", "null"),
    ("run", "-i", "VIDEO", "-o", f"/tmp/{LONG}.mp4"),
    ("run", "-i", "VIDEO", "-o", "null", "--look", f"/tmp/{LONG}"),
    ("looks", "show", f"/tmp/{LONG}"),
    ("looks", "install", f"/tmp/{LONG}.lfpack"),
    ("looks", "pack", f"/tmp/{LONG}"),
    ("looks", "create", "ok-name", "--from", f"/tmp/{LONG}"),
    ("looks", "create", "ok-name", "--from", "PHOTOS", "--student", f"/tmp/{LONG}"),
    ("eval", "glam", "--faces", f"/tmp/{LONG}"),
    ("export", f"/tmp/{LONG}"),
])
def test_a_path_name_over_255_bytes_is_one_line(args):
    from conftest import shared_path

    video = str(shared_path("video", "vtoonify", "529_2.mp4"))
    args = tuple(video if a == "VIDEO" else _photos() if a == "PHOTOS" else a for a in args)
    _one_line_error(cli(*args))


# -- 6: a read-only looks folder is one line before the work, for create and install ---------------------
@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False,
                    reason="root writes into read-only folders; the full-disk case below covers the same check")
def test_create_and_install_into_a_read_only_looks_folder_fail_first(tmp_path):
    _read_only_case(tmp_path)


def _read_only_case(tmp_path):
    root = user_looks_dir()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o555)
    try:
        r = cli("looks", "create", "ok-name", "--from", _photos())
        _one_line_error(r, "cannot write to the looks folder")
        assert "finding faces" not in r.stdout  # refused before any photo was read
        pack = make_look(tmp_path / "p", name="fresh")
        _one_line_error(cli("looks", "install", str(pack.root)), "cannot write to the looks folder")
    finally:
        root.chmod(0o755)


def test_a_full_or_read_only_looks_folder_is_refused_before_the_work(tmp_path, monkeypatch):
    """As root permission bits do not stop writes, the write test itself is made to fail as a full disk."""
    import errno
    import tempfile as tf

    from livefilter.errors import LookError
    from livefilter.looks.create import CreateOptions, LookCreator
    from livefilter.looks.registry import check_writable

    real = tf.TemporaryFile

    def full(*args, **kwargs):
        if kwargs.get("prefix") == ".write-test-":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(tf, "TemporaryFile", full)
    with pytest.raises(LookError, match="cannot write to the looks folder .*No space left"):
        check_writable(user_looks_dir())
    read = []
    creator = LookCreator(LookRegistry())
    monkeypatch.setattr(creator, "load", lambda src: read.append(src))
    with pytest.raises(LookError, match="cannot write to the looks folder"):
        creator.create([Path(_photos())], CreateOptions("ok-name"))
    assert not read  # no photo was touched
    pack = make_look(tmp_path / "p", name="fresh")
    with pytest.raises(LookError, match="cannot write to the looks folder"):
        LookRegistry().install(pack.root)


# -- 8: settings files go through the strict, bounded reader ---------------------------------------------
@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000, '{"control": {"port": ' + "9" * 5000 + "}}",
                                     '{"control": {"port": NaN}}'])
@pytest.mark.parametrize("command", [("control",), ("obs", "map", "Gaming=glam")])
def test_a_hostile_config_json_is_one_line(content, command):
    from livefilter.infra.paths import user_config_path

    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    _one_line_error(cli(*command), "settings file")


def test_a_config_or_password_file_that_is_a_device_or_a_fifo_is_refused_not_read(tmp_path):
    from livefilter.infra.paths import user_config_path

    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    _one_line_error(cli("control"), "not a regular file")
    path.unlink()
    fifo = tmp_path / "pw"
    os.mkfifo(fifo)
    r = cli("run", "-i", "VIDEO-NOT-NEEDED.mp4", "-o", "null", "--obs", "ws://127.0.0.1:4455",
            "--obs-password-file", str(fifo))
    _one_line_error(r, "not a regular file")


# -- 12: the low ones ------------------------------------------------------------------------------------
def test_obs_port_zero_is_an_error_not_the_default():
    from livefilter.errors import SettingError
    from livefilter.obs.target import ObsTarget

    with pytest.raises(SettingError, match="port must be 1-65535"):
        ObsTarget.parse("ws://127.0.0.1:0")
    assert ObsTarget.parse("ws://127.0.0.1").port == 4455


@pytest.mark.parametrize("bad", ['{"format": true}', '{"format": 1.0, "profiles": {}}'])
def test_format_true_is_not_format_one(bad):
    from livefilter.settings.userconfig import ConfigError, UserConfig

    with pytest.raises(ConfigError):
        UserConfig.from_json(json.loads(bad))


def test_tokens_and_look_names_with_a_trailing_newline_are_refused():
    from livefilter.settings.userconfig import ConfigError, ControlSettings

    with pytest.raises(ConfigError):
        ControlSettings.from_json({"token": "a" * 32 + "\n"})
    with pytest.raises(ConfigError):
        from livefilter.settings.userconfig import ObsSettings

        ObsSettings.from_json({"scene_looks": {"Gaming": "glam\n"}})


@pytest.mark.parametrize("length", ["1_0", "+5", " 5 ", "٣"])
def test_content_length_takes_digits_only(length):
    from livefilter.control.transport import HTTPError, SecureHandler

    class Handler:
        headers = {"Content-Length": length}

    with pytest.raises(HTTPError, match="bad Content-Length"):
        SecureHandler._read_body(Handler(), 1000)


def test_a_sixteen_bit_grey_png_is_not_clipped_to_white(tmp_path):
    import cv2
    import numpy as np

    from livefilter.looks.photos import decode_photo

    grey = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (256, 1))
    ok, png = cv2.imencode(".png", grey)
    photo = decode_photo(png.tobytes(), "grey16.png")
    row = photo.rgb[128, :, 0].astype(int)
    assert row[0] < 5 and row[-1] > 250 and abs(int(row[128]) - 128) <= 2  # the ramp survives


def test_a_link_to_a_real_photo_is_followed_and_the_same_photo_counts_once(tmp_path):
    from conftest import shared_path

    from livefilter.looks.photos import read_photo

    real = next(p for p in sorted(shared_path("faces", "makeup_beautygan_honlan", "makeup").iterdir()) if p.is_file())
    link = tmp_path / "link.png"
    link.symlink_to(real)
    assert read_photo(link).sha256 == read_photo(real).sha256
    r = cli("looks", "create", "dup-test", "--from", str(real), str(real), str(link))
    assert "same photo" in r.stdout + r.stderr  # the second and third are the first one again


def test_a_config_holding_the_token_is_made_private_and_a_symlink_is_written_through(tmp_path):
    from livefilter.infra.paths import user_config_path
    from livefilter.settings.userconfig import ConfigStore

    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    real = tmp_path / "dotfiles" / "config.json"
    real.parent.mkdir()
    real.write_text(json.dumps({"format": 1, "control": {"token": "t" * 32, "port": 8765}}))
    real.chmod(0o644)
    path.symlink_to(real)
    store = ConfigStore()
    assert store.load().control.token == "t" * 32
    assert real.stat().st_mode & 0o777 == 0o600  # tightened
    store.update_control(port=9876)
    assert path.is_symlink() and json.loads(real.read_text())["control"]["port"] == 9876


# -- 13, 14, 16: what a new user trips over ----------------------------------------------------------------
def test_looks_list_shows_whole_descriptions_and_wraps_between_words():
    from livefilter.looks.registry import LookRegistry as Registry

    descriptions = [lk.description for lk in Registry().list()]
    wide = cli("looks", "list", env={"COLUMNS": "220"})
    assert wide.returncode == 0
    for d in descriptions:
        assert d in wide.stdout  # never cut
    narrow = cli("looks", "list", env={"COLUMNS": "80"})
    cells = " ".join(ln.split("│")[-2].strip() for ln in narrow.stdout.splitlines() if ln.count("│") >= 6)
    for d in descriptions:
        for word in d.split():
            assert word in cells.split(), word  # whole words, never split across lines


def test_export_list_fits_a_narrow_terminal_without_breaking_words(tmp_path):
    from livefilter.engines.cache import EngineCache

    if not EngineCache().entries():
        cli("export", "glam", "--backend", "onnxruntime-cpu")
    r = cli("export", "--list", env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines() if "onnxruntime" in ln]
    assert rows and all(len(ln) <= 80 for ln in r.stdout.splitlines())
    assert any("MiB" in ln for ln in r.stdout.splitlines())


def test_doctor_names_the_right_fixes_and_where_the_files_are():
    from livefilter.cli.doctor import run_checks
    from livefilter.infra.paths import user_config_path, user_looks_dir
    from livefilter.translate.builtin_backends import torch_cuda_install

    checks = {(c.area, c.name): c for c in run_checks()}
    assert str(user_config_path()) in checks[("files", "settings")].detail
    assert str(user_looks_dir()) in checks[("files", "your looks")].detail
    preview = checks[("preview", "OpenCV window")]
    assert preview.ok or "pip uninstall -y opencv-python-headless" in preview.detail
    assert "livefilter[train]" not in checks[("backend", "torch-cuda")].detail
    assert torch_cuda_install("560.35.03").endswith("/whl/cu126")
    assert torch_cuda_install("535.104.05").endswith("/whl/cu121")
    assert torch_cuda_install("470.1") == "" and torch_cuda_install("") == ""


# -- 15: the preview shows faces large and labelled; the demo compares one frame ------------------------
def test_looks_preview_shows_each_face_large_before_and_after(tmp_path):
    import cv2

    out = tmp_path / "preview.png"
    r = cli("looks", "preview", "glam", "-o", str(out))
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out))
    from livefilter.cli.looks_cmd import PREVIEW_TILE_WIDTH

    assert img.shape[1] % PREVIEW_TILE_WIDTH == 0 and img.shape[1] >= 2 * PREVIEW_TILE_WIDTH  # a column per face
    rows = img.shape[0] // 2
    before, after = img[:rows], img[rows:2 * rows]
    assert before.shape == after.shape and (before != after).any()  # two rows: before, then the look
    # the first panel is labelled: white text drawn over its top-left corner
    assert (before[5:30, 5:90] > 240).all(-1).sum() > 40


def test_the_demo_before_and_after_are_the_same_frame(tmp_path):
    import cv2
    import numpy as np

    r = cli("demo", "--out-dir", str(tmp_path), "--seconds", "1.5")
    assert r.returncode == 0, r.stderr
    pair = cv2.imread(str(tmp_path / "demo_before_after.png"))
    half = pair.shape[1] // 2
    a, b = pair[60:, :half].astype(int), pair[60:, half:].astype(int)  # below the labels
    same = (np.abs(a - b).sum(-1) == 0).mean()
    assert same > 0.9  # outside the faces every pixel is the same frame's


# -- 4: a signal during a panel creation's fine-tuning finalises like any run ------------------------------
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_panel_fine_tuning_exits_cleanly(tmp_path, signum, code):
    import http.client
    import time

    from conftest import shared_path

    video = shared_path("video", "liveportrait", "d6.mp4")
    photos = sorted(p for p in shared_path("faces", "makeup_beautygan_honlan", "makeup").iterdir() if p.is_file())[:4]
    data = user_looks_dir().parent
    proc = subprocess.Popen([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null", "--loop"],
                            env={**os.environ, "COLUMNS": "200"}, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        info_path = data / f"control-{proc.pid}.json"
        deadline = time.monotonic() + 120
        while not info_path.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        info = json.loads(info_path.read_text())

        def call(method, path, body=None, headers=None):
            conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=30)
            h = {"Authorization": f"Bearer {info['token']}", "Host": f"127.0.0.1:{info['port']}", **(headers or {})}
            conn.request(method, path, body=body, headers=h)
            res = conn.getresponse()
            out = json.loads(res.read() or b"{}")
            conn.close()
            return res.status, out

        for p in photos:
            status, _ = call("POST", "/api/create/photo", p.read_bytes(), {"Content-Type": "image/jpeg",
                                                                           "X-Filename": p.name})
            assert status == 200
        status, _ = call("POST", "/api/create/start", json.dumps({"name": "sig-test", "finetune": 2}).encode(),
                         {"Content-Type": "application/json"})
        assert status == 200
        deadline = time.monotonic() + 300
        while call("GET", "/api/create/status")[1].get("stage") != "fine-tuning":
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "terminate called" not in err and "Traceback" not in err


# -- 3: panel uploads: limits reserved atomically, no decoding on the request threads ---------------------
def test_concurrent_uploads_never_pass_the_limits_and_are_not_decoded_on_arrival(monkeypatch):
    import threading

    import cv2
    import numpy as np

    from PIL import Image

    from livefilter.control import creation as C

    def no_decode(*a, **k):
        raise AssertionError("a photo's pixels were decoded on a request thread")

    monkeypatch.setattr(Image.Image, "load", no_decode)  # every pixel decode goes through load()
    rng = np.random.default_rng(0)
    blobs = [cv2.imencode(".png", rng.integers(0, 255, (200, 200, 3), np.uint8))[1].tobytes() for _ in range(45)]
    service = C.CreationService(controller=None)
    barrier = threading.Barrier(len(blobs))
    outcomes = []

    def upload(i: int) -> None:
        barrier.wait()
        try:
            service.add_photo(f"p{i}.png", blobs[i])
            outcomes.append("ok")
        except C.TooLarge:
            outcomes.append("full")

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(blobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    kept = service.status()["photos"]
    assert len(kept) == C.MAX_UPLOADS and outcomes.count("ok") == C.MAX_UPLOADS  # never more, whatever the race
    assert outcomes.count("full") == len(blobs) - C.MAX_UPLOADS
    assert service._reserved == (0, 0)


def test_an_upload_too_large_by_its_header_is_refused_without_decoding():
    import struct
    import zlib

    from livefilter.control.controller import ControlError
    from livefilter.control.creation import CreationService

    def png(w: int, h: int) -> bytes:  # a valid header announcing a huge image, a tiny body
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))

    with pytest.raises(ControlError, match="too large"):
        CreationService(controller=None).add_photo("huge.png", png(40000, 40000))
