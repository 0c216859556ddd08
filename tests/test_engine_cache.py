"""Engine cache: hit, miss, rebuild on key change, corrupt artefacts, with real onnxruntime artefacts."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from livefilter.engines.cache import CacheKey, EngineCache
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator, ort_cache_key
from onnx_looks import make_look


def _key(**kw) -> CacheKey:
    base = CacheKey("a" * 64, "tensorrt", "NVIDIA H100", "9.0", "560.1", "10.3.0", "fp16", 4, 256)
    return replace(base, **kw)


def test_store_lookup_and_key_changes(tmp_path):
    cache = EngineCache(tmp_path)
    k = _key()
    assert cache.lookup(k) is None
    path = cache.store(k, b"engine-bytes", 1.5)
    assert cache.lookup(k) == path and path.read_bytes() == b"engine-bytes"
    for change in ({"device": "NVIDIA RTX 4090"}, {"library_version": "10.4.0"}, {"driver": "570.0"},
                   {"precision": "fp32"}, {"max_batch": 8}, {"onnx_sha256": "b" * 64}):
        assert cache.lookup(_key(**change)) is None
    # a sidecar claiming another GPU for this file name is refused too
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["key"]["device"] = "Other GPU"
    sidecar.write_text(json.dumps(meta))
    assert cache.lookup(k) is None


def test_corrupt_artefact_or_sidecar_is_not_loaded(tmp_path):
    cache = EngineCache(tmp_path)
    k = _key()
    path = cache.store(k, b"x" * 1000, 0.1)
    path.write_bytes(b"y" * 1000)  # same size, different content
    assert cache.lookup(k) is None
    cache.store(k, b"x" * 1000, 0.1)
    path.with_suffix(".json").write_text("{not json")
    assert cache.lookup(k) is None
    entries = EngineCache(tmp_path).entries()
    assert len(entries) == 0 or not entries[0].valid


def test_onnxruntime_artefacts_hit_miss_and_rebuild(tmp_path):
    look = make_look(tmp_path / "looks", "shift", kind="shift", size=64)
    cache = EngineCache(tmp_path / "cache")
    first = OnnxRuntimeTranslator(look, cache=cache)
    assert not first.cache_hit
    second = OnnxRuntimeTranslator(look, cache=cache)
    assert second.cache_hit
    crops = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), np.uint8)
    s = np.ones(2, np.float32)
    assert np.array_equal(first(crops, None, s), second(crops, None, s))
    key = ort_cache_key(look, "cpu", 8)
    artefact = cache.lookup(key, suffix=".ort.onnx")
    data = artefact.read_bytes()
    artefact.write_bytes(data[: len(data) // 2])  # truncated on disk
    third = OnnxRuntimeTranslator(look, cache=cache)
    assert not third.cache_hit  # rebuilt, not crashed
    assert cache.lookup(key, suffix=".ort.onnx") is not None
    assert np.array_equal(third(crops, None, s), first(crops, None, s))
    entries = cache.entries()
    assert len(entries) == 1 and entries[0].valid and entries[0].key["backend"] == "onnxruntime-cpu"


def _consistent(artefact, data: bytes) -> None:
    """Replace an artefact and make its sidecar agree (size and sha256): a consistent but broken entry."""
    import hashlib
    import json

    artefact.write_bytes(data)
    sidecar = artefact.with_name(artefact.name.split(".")[0] + ".json")
    meta = json.loads(sidecar.read_text())
    meta.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    sidecar.write_text(json.dumps(meta))


BAD_CACHES = {
    "broken-artefact": lambda root, art: _consistent(art, b"not an onnx graph" * 100),
    "empty-artefact": lambda root, art: _consistent(art, b""),
    "sidecar-list": lambda root, art: art.with_name(art.name.split(".")[0] + ".json").write_text("[]"),
    "sidecar-null": lambda root, art: art.with_name(art.name.split(".")[0] + ".json").write_text("null"),
    "engines-is-a-file": lambda root, art: (shutil.rmtree(root), root.write_text("not a folder")),
}


@pytest.mark.parametrize("state", sorted(BAD_CACHES))
def test_a_bad_cache_warns_once_and_the_run_goes_on_uncached(tmp_path, state):
    """`livefilter run` with a broken engine cache: one warning, the look runs, nothing left behind."""
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT, shared_path

    video = shared_path("video", "liveportrait", "d0.mp4")
    home = tmp_path / "home"
    make_look(home / "data" / "looks", "shift", kind="shift")
    env = dict(os.environ, LIVEFILTER_HOME=str(home))
    root = home / "cache" / "engines"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True,
                              env=env, cwd=REPO_ROOT, timeout=180)

    cmd = ("run", "-i", str(video), "-o", "null", "--look", "shift", "--max-frames", "3", "--no-control",
           "--backend", "onnxruntime-cpu")
    assert run(*cmd).returncode == 0  # fills the cache
    (artefact,) = root.glob("*.ort.onnx")
    BAD_CACHES[state](root, artefact)
    r = run(*cmd)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "no translator backend" not in r.stderr
    assert "3 frames" in r.stdout.replace("\n", " ")
    warnings = [line for line in r.stderr.splitlines() if "engine cache" in line]
    assert len(warnings) <= 1, r.stderr
    if root.is_dir():
        assert not list(root.glob(".building-*")) and not list(root.glob("*.tmp"))
    listed = run("export", "--list")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
