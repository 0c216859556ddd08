"""Engine cache: hit, miss, rebuild on key change, corrupt artefacts, with real onnxruntime artefacts."""

import json
from dataclasses import replace

import numpy as np

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
