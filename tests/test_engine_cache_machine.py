"""The cache against *this* machine, with real onnxruntime artefacts: a new device or library version
is a miss that rebuilds; the old artefact is then listed as foreign/stale, never loaded."""

import numpy as np
import onnxruntime
import pytest
from typer.testing import CliRunner

from exporters.build import cache_rows
from livefilter.cli import app
from livefilter.engines.cache import EngineCache
from livefilter.engines.device_info import DeviceInfo
from livefilter.looks.registry import LookRegistry
from livefilter.translate import onnxruntime_backend as ob
from onnx_looks import make_look


@pytest.fixture
def look(_isolated_home):
    return make_look(_isolated_home / "data" / "looks", "shift", kind="shift", size=64)


def _run(t):
    crops = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), np.uint8)
    return t(crops, None, np.ones(2, np.float32))


def test_library_upgrade_rebuilds_and_lists_old_artefact_as_stale(look, monkeypatch):
    cache = EngineCache()
    first = ob.OnnxRuntimeTranslator(look, cache=cache, threads=1)
    assert not first.cache_hit
    assert ob.OnnxRuntimeTranslator(look, cache=cache, threads=1).cache_hit
    with monkeypatch.context() as m:
        m.setattr(onnxruntime, "__version__", "99.0.0")  # "the user upgraded onnxruntime"
        upgraded = ob.OnnxRuntimeTranslator(look, cache=cache, threads=1)
        assert not upgraded.cache_hit  # a miss: rebuilt for the new version
        assert np.array_equal(_run(first), _run(upgraded))
        rows = {r.state.split(" ")[0] for r in cache_rows(cache, LookRegistry().list())}
        assert rows == {"valid", "stale"}  # the 1.x artefact is stale under 99.0.0
    states = sorted(r.state for r in cache_rows(cache, LookRegistry().list()))
    assert states[0] == "stale (library 99.0.0 -> %s)" % onnxruntime.__version__ and states[1] == "valid"


def test_other_device_is_a_miss_and_foreign_in_the_listing(look, monkeypatch):
    cache = EngineCache()
    ob.OnnxRuntimeTranslator(look, cache=cache, threads=1)
    other = DeviceInfo("Imaginary CPU 9000", "cpu", "")
    with monkeypatch.context() as m:
        m.setattr(ob, "cpu_device", lambda: other)
        t = ob.OnnxRuntimeTranslator(look, cache=cache, threads=1)
        assert not t.cache_hit
        assert ob.OnnxRuntimeTranslator(look, cache=cache, threads=1).cache_hit
    rows = cache_rows(cache, LookRegistry().list())
    assert sorted(r.state.split(" ")[0] for r in rows) == ["foreign", "valid"]
    assert all(r.look == "shift" for r in rows)


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damaged_artefact_is_rebuilt_not_loaded(look, damage):
    cache = EngineCache()
    ref = _run(ob.OnnxRuntimeTranslator(look, cache=cache, threads=1))
    key = ob.ort_cache_key(look, "cpu", 8)
    path = cache.lookup(key, suffix=".ort.onnx")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2: len(data) // 2 + 64] = b"\xde\xad" * 32
    path.write_bytes(bytes(data))
    assert cache.lookup(key, suffix=".ort.onnx") is None
    again = ob.OnnxRuntimeTranslator(look, cache=cache, threads=1)
    assert not again.cache_hit and np.array_equal(_run(again), ref)
    assert [r.state for r in cache_rows(cache, LookRegistry().list())] == ["valid"]


def test_export_list_shows_look_device_and_state(look, monkeypatch):
    from livefilter.cli.common import out

    monkeypatch.setattr(out, "_width", 200)  # the shared console is 80 columns when not on a terminal
    runner = CliRunner()
    assert runner.invoke(app, ["export", "--list"]).output.startswith("engine cache is empty")
    r = runner.invoke(app, ["export", "shift", "--backend", "onnxruntime-cpu"], terminal_width=220)
    assert r.exit_code == 0, r.output
    listing = runner.invoke(app, ["export", "--list"], terminal_width=220)
    assert listing.exit_code == 0
    for word in ("shift", "onnxruntime-cpu", "fp32", "b1-4 64px", "valid", "1 artefact(s), 1 valid here"):
        assert word in listing.output, (word, listing.output)
