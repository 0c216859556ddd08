"""The released command as a careless user or an attacker would use it: never a traceback, never lost
data (the input, an existing output), every setting checked up front, signals honoured."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import REPO_ROOT, shared_path
from onnx_looks import make_look

VIDEO_WITH_AUDIO = ("video", "liveportrait", "d18.mp4")  # 216 frames at 30 fps, with an audio track


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    make_look(home / "data" / "looks", "shift", kind="shift", size=128)
    return dict(os.environ, LIVEFILTER_HOME=str(home), COLUMNS="200")


def livefilter(env, *args, cwd=REPO_ROOT, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livefilter", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def frames_of(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def durations(path: Path) -> dict[str, float]:
    """Seconds per stream type, from the packets actually in the file."""
    out: dict[str, float] = {}
    with av.open(str(path)) as c:
        for pkt in c.demux():
            if pkt.pts is None or pkt.duration is None:
                continue
            end = float((pkt.pts + pkt.duration) * pkt.time_base)
            out[pkt.stream.type] = max(out.get(pkt.stream.type, 0.0), end)
    return out


def no_leftovers(folder: Path) -> None:
    left = [p.name for p in folder.iterdir() if ".partial" in p.name or p.name.endswith(".reserve")]
    assert not left, left


# -- usage errors are typer's usage message, never a traceback -------------------------------------------
@pytest.mark.parametrize("args, message", [
    (("run", "--inptu", "x"), "No such option"),
    (("rnu",), "No such command"),
    (("run", "--fps", "abc"), "Invalid value for '--fps'"),
    (("run", "-i"), "requires an argument"),
    (("looks", "install"), "Missing argument"),
])
def test_usage_errors_are_typers_usage_message(env, args, message):
    r = livefilter(env, *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_the_project_never_imports_click_itself():
    """typer may ship its own copy of click (0.29 does) and not install ``click``: never import it."""
    offenders = []
    for folder in ("livefilter", "exporters", "training", "benchmarks"):
        for p in (REPO_ROOT / folder).rglob("*.py"):
            for line in p.read_text("utf-8").splitlines():
                if line.strip().startswith(("import click", "from click")):
                    offenders.append(f"{p.relative_to(REPO_ROOT)}: {line.strip()}")
    assert not offenders, offenders


# -- the input is never the output; outputs are renamed into place when complete ---------------------------
@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_the_input_is_never_overwritten(env, tmp_path, spelling):
    src = tmp_path / "s.mp4"
    shutil.copyfile(shared_path(*VIDEO_WITH_AUDIO), src)
    before = src.read_bytes()
    (tmp_path / "sub").mkdir()
    out = {"same": src, "dotdot": tmp_path / "sub" / ".." / "s.mp4", "symlink": tmp_path / "link.mp4",
           "hardlink": tmp_path / "hard.mp4"}[spelling]
    if spelling == "symlink":
        out.symlink_to(src)
    elif spelling == "hardlink":
        os.link(src, out)
    r = livefilter(env, "run", "-i", src, "-o", out, "--overwrite", "--look", "shift", "--no-control")
    assert r.returncode != 0 and "is the input" in r.stderr and "Traceback" not in r.stderr
    assert src.read_bytes() == before


def test_a_failed_run_leaves_an_existing_output_as_it_was(env, tmp_path):
    """An interrupted run with --overwrite: the old file stays until the new one is complete."""
    out = tmp_path / "out.mp4"
    out.write_bytes(b"the user's previous result")
    video = shared_path("video", "liveportrait", "d6.mp4")  # 33 s: still running when stopped
    proc = subprocess.Popen([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", str(out),
                             "--overwrite", "--look", "shift", "--no-control"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(".partial" in p.name and p.stat().st_size > 50_000
                                                  for p in tmp_path.iterdir()):
        time.sleep(0.2)
    assert out.read_bytes() == b"the user's previous result"  # mid-run: the old file is untouched
    proc.send_signal(signal.SIGKILL)  # the worst case: no chance to clean up
    proc.communicate(timeout=60)
    assert out.read_bytes() == b"the user's previous result"


def test_looks_pack_never_overwrites_silently(env, tmp_path):
    look = make_look(tmp_path / "looks", "mine", kind="shift")
    target = tmp_path / "mine.lfpack"
    target.write_bytes(b"keep me")
    r = livefilter(env, "looks", "pack", look.root, "-o", target)
    assert r.returncode != 0 and "exists" in r.stderr and "Traceback" not in r.stderr
    assert target.read_bytes() == b"keep me"
    r = livefilter(env, "looks", "pack", look.root, "-o", target, "--overwrite")
    assert r.returncode == 0, r.stderr
    import zipfile

    assert zipfile.ZipFile(target).namelist()
    no_leftovers(tmp_path)


# -- every setting checked up front, whatever the output --------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (("--max-frames", "0"), "--max-frames"),
    (("--max-frames", "-1"), "--max-frames"),
    (("--duration", "nan"), "--duration"),
    (("--duration", "-2"), "--duration"),
    (("--pixel-format", "XYZ"), "--pixel-format"),
    (("--budget-ms", "-1"), "--budget-ms"),
    (("--budget-ms", "nan"), "--budget-ms"),
    (("--look", ""), "--look is empty"),
    (("--vcam-device", "foo"), "--vcam-device"),
    (("--temporal", "nan"), "--temporal"),
    (("--control-port", "70000"), "--control-port"),
    (("--vcam-device", "/dev/sda", "-o", "out.mp4"), "--vcam-device"),  # checked even where unused
    (("--pixel-format", "XYZ", "-o", "null"), "--pixel-format"),
])
def test_settings_are_validated_whatever_the_output(env, tmp_path, args, message):
    r = livefilter(env, "run", "-i", shared_path(*VIDEO_WITH_AUDIO), "-o", "out.mp4", "--no-control", *args,
                   cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out.mp4").exists()


# -- an early stop trims the audio; --duration of a file counts media time --------------------------------
@pytest.mark.parametrize("stop, frames", [(("--max-frames", "30"), 30), (("--duration", "2"), 60)])
def test_an_early_stop_trims_the_audio_and_file_durations_count_media_time(env, tmp_path, stop, frames):
    """--max-frames 30 is 1 s of the 30 fps input; --duration 2 is 2 s of it, however fast this machine
    filters; either way the audio (about 7 s in the input) ends with the video."""
    out = tmp_path / "short.mp4"
    r = livefilter(env, "run", "-i", shared_path(*VIDEO_WITH_AUDIO), "-o", out, "--look", "shift", "--no-control",
                   *stop)
    assert r.returncode == 0, r.stderr
    d = durations(out)
    assert frames_of(out) == frames and d["video"] == pytest.approx(frames / 30, abs=0.05)
    assert d["audio"] == pytest.approx(d["video"], abs=0.1)


# -- signals from the first moment; conventional exit codes after finalising ------------------------------
def wait_for_sigterm_handler(proc: subprocess.Popen) -> None:
    """Until the process catches SIGTERM (Linux: its SigCgt mask), i.e. the interpreter has reached
    livefilter's first line; before that no program can handle a signal. Elsewhere: a short wait."""
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():
        time.sleep(1.0)
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        caught = next((ln.split()[1] for ln in status.read_text().splitlines() if ln.startswith("SigCgt:")), "0")
        if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.5])  # after the handler is in: imports, model loading, opening
def test_sigterm_during_start_up_exits_143_cleanly(env, tmp_path, delay):
    out = tmp_path / "early.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "livefilter", "run", "-i", str(shared_path(*VIDEO_WITH_AUDIO)),
                             "-o", str(out), "--look", "shift"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_sigterm_handler(proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr + stdout
    if out.exists():  # it got as far as writing: then the file is complete and playable
        assert frames_of(out) > 0
    no_leftovers(tmp_path)
    assert not list((Path(env["LIVEFILTER_HOME"]) / "data").glob("control*.json"))


def test_sigint_finalises_and_exits_130(env, tmp_path):
    out = tmp_path / "stopped.mp4"
    video = shared_path("video", "liveportrait", "d6.mp4")
    proc = subprocess.Popen([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", str(out),
                             "--look", "shift", "--no-control"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.name.endswith(".partial.mp4") and p.stat().st_size > 50_000
                                                  for p in tmp_path.iterdir()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    n = frames_of(out)
    assert 0 < n < 1008
    d = durations(out)
    assert d["audio"] == pytest.approx(d["video"], abs=0.1)  # trimmed to where it stopped
    no_leftovers(tmp_path)


# -- disk full ---------------------------------------------------------------------------------------------
def _noise_frames(n: int, h: int = 240, w: int = 320):
    rng = np.random.default_rng(0)
    for _ in range(n):
        yield rng.integers(0, 255, (h, w, 3), np.uint8)  # incompressible: fills a disk fast


def test_disk_full_at_the_write_layer_keeps_a_playable_file(tmp_path, monkeypatch):
    """ENOSPC injected where the muxer's bytes reach the OS: the run stops, the frames so far are
    finalised with the reserve, and an existing file is never replaced."""
    from livefilter.errors import OutputError
    from livefilter.sinks import reserved_file
    from livefilter.sinks.file_sink import FileSink
    from livefilter.types import SourceInfo

    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    budget = {"bytes": 400_000}
    real_write = reserved_file.ReservedFile._write_all

    def write_all(self, data):
        if self._reserve is not None and budget["bytes"] < len(data):  # the reserve frees the space
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        budget["bytes"] -= len(data)
        return real_write(self, data)

    monkeypatch.setattr(reserved_file.ReservedFile, "_write_all", write_all)
    sink = FileSink(str(out), SourceInfo(320, 240, 25.0, False), overwrite=True)
    for img in _noise_frames(500):
        sink.write(img, None)
        if sink.closed:
            break
    assert sink.disk_full and 0 < sink.frames < 500
    with pytest.raises(OutputError, match="disk full") as e:
        sink.close()
    assert "was not replaced" in str(e.value)
    assert out.read_bytes() == b"previous result"
    kept = tmp_path / "out.incomplete.mp4"
    assert frames_of(kept) == sink.frames
    no_leftovers(tmp_path)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs with about 1 MiB free (needs root and mount rights; skipped otherwise)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        filler = mnt / "other-data"
        filler.write_bytes(b"\0" * (3 << 20))
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_during_a_file_run(env, small_disk):
    """A real full disk: one line, rc 2, a playable shorter file, an existing file not replaced."""
    src = shared_path("video", "liveportrait", "d6.mp4")
    r = livefilter(env, "run", "-i", src, "-o", small_disk / "new.mp4", "--look", "shift", "--no-control")
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert "Traceback" not in r.stderr and len(lines) == 1 and "disk full" in lines[0], r.stderr
    n = frames_of(small_disk / "new.mp4")
    assert 0 < n < 1008
    no_leftovers(small_disk)
    assert (small_disk / "other-data").stat().st_size == 3 << 20  # nothing else was touched

    (small_disk / "new.mp4").unlink()
    (small_disk / "old.mp4").write_bytes(b"previous result")
    r = livefilter(env, "run", "-i", src, "-o", small_disk / "old.mp4", "--overwrite", "--look", "shift",
                   "--no-control")
    assert r.returncode == 2 and "was not replaced" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert (small_disk / "old.mp4").read_bytes() == b"previous result"
    assert frames_of(small_disk / "old.incomplete.mp4") > 0
    no_leftovers(small_disk)


def test_export_list_prints_the_cache_folder_as_written(tmp_path):
    """A folder name with brackets is shown whole, not read as rich markup."""
    home = tmp_path / "[bold]home[/]"
    env = dict(os.environ, LIVEFILTER_HOME=str(home), COLUMNS="400")
    r = livefilter(env, "export", "--list")
    assert r.returncode == 0, r.stderr
    assert "[bold]home[/]" in r.stdout.replace("\n", "")
