"""Per-machine artefacts built from a look's ONNX: TensorRT engines, optimised onnxruntime graphs.

They live in one cache (livefilter.infra.paths.engine_cache_dir()) keyed by everything that makes an
artefact valid only on this machine. The runtime builds them itself (a user's GPU, driver or
TensorRT changes under it), so the builders live here; ``exporters`` is the offline front-end.
"""

from livefilter.engines.cache import CacheEntry, CacheKey, EngineCache

__all__ = ["CacheEntry", "CacheKey", "EngineCache"]
