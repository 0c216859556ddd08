"""TensorRT translator: deserialise a cached engine, device buffers allocated once, execute_async_v3."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from livefilter.engines.cache import EngineCache, warn_once
from livefilter.engines.tensorrt_build import BuildSettings, build_engine, import_tensorrt, tensorrt_key
from livefilter.errors import ModelError
from livefilter.looks.pack import Look
from livefilter.translate.codec import CropCodec

log = logging.getLogger(__name__)


class TensorRTRunner:
    """Runs an engine on device buffers. ``enqueue`` never synchronises the host."""

    def __init__(self, engine_path, max_batch: int) -> None:
        from livefilter.translate import cuda_mem

        trt = import_tensorrt()
        self._mem = cuda_mem
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        data = engine_path if isinstance(engine_path, (bytes, bytearray)) else open(engine_path, "rb").read()
        self.engine = self.runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            what = "the engine" if isinstance(engine_path, (bytes, bytearray)) else engine_path
            raise ModelError(f"{what}: TensorRT could not deserialise the engine (built for another GPU/TensorRT?)")
        self.context = self.engine.create_execution_context()
        self.max_batch = max_batch
        self.inputs, self.outputs, self.buffers, self.shapes = [], [], {}, {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = list(self.engine.get_tensor_shape(name))
            shape[0] = max_batch  # dynamic batch: allocate for the largest profile once
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            self.shapes[name] = (tuple(shape), dtype)
            self.buffers[name] = cuda_mem.DeviceBuffer.alloc(int(np.prod(shape)) * dtype.itemsize)
            mode = self.engine.get_tensor_mode(name)
            (self.inputs if mode == trt.TensorIOMode.INPUT else self.outputs).append(name)
        self.bind({name: b.ptr for name, b in self.buffers.items()})

    def bind(self, addresses: dict[str, int]) -> None:
        """Point the engine's inputs and outputs at these device addresses (a host-side call)."""
        for name, ptr in addresses.items():
            self.context.set_tensor_address(name, ptr)

    def enqueue(self, batch: int, stream_handle: int) -> None:
        for name in self.inputs:
            shape = (batch,) + self.shapes[name][0][1:]
            self.context.set_input_shape(name, shape)
        if not self.context.execute_async_v3(stream_handle):
            raise ModelError("TensorRT execute_async_v3 failed")

    def close(self) -> None:
        for b in self.buffers.values():
            b.free()


class TensorRTTranslator:
    """The Translator protocol over a TensorRT engine (host crops in, host crops out), and
    :meth:`translate_tensor` for the GPU pipeline (its device tensors in and out, its stream)."""

    def __init__(self, look: Look, max_faces: int = 4, precision: str = "fp16", cache: EngineCache | None = None,
                 progress=None) -> None:
        from livefilter.translate import cuda_mem

        self.look = look
        self.input_size = look.input_size
        self.name = f"tensorrt-{precision}"
        self.strength_in_network = look.input_names.get("strength") is not None
        settings = BuildSettings(max_faces=max_faces, precision=precision)
        cache = cache or EngineCache()
        path = build_engine(look, settings, cache, progress)
        try:
            self.runner = TensorRTRunner(path, max_faces)
        except ModelError as e:
            if not isinstance(path, Path):
                raise
            # a cached engine that looked consistent but does not load: drop it and build afresh
            warn_once("broken", "cached engine %s cannot be loaded (%s); rebuilding", path.name, e)
            cache.invalidate(tensorrt_key(look, settings, import_tensorrt().__version__))
            self.runner = TensorRTRunner(build_engine(look, settings, cache, progress), max_faces)
        self.stream = cuda_mem.Stream()
        self._mem = cuda_mem
        self._codec = CropCodec(look.input_size, look.normalisation, max_faces)
        s = look.input_size
        self._host_in = cuda_mem.PinnedArray((max_faces, 3, s, s), np.float32)
        self._host_out = cuda_mem.PinnedArray((max_faces, 3, s, s), np.float32)
        self._style = look.input_names.get("style")
        self._strength = look.input_names.get("strength")
        k = len(look.style_code or [1])
        self._host_style = cuda_mem.PinnedArray((max_faces, k), np.float32)
        self._host_strength = cuda_mem.PinnedArray((max_faces, 1), np.float32)
        self._out_name = look.output_name or self.runner.outputs[0]
        self._device_io = None  # TensorRTDeviceIO, made on the first translate_tensor
        self._bound = "host"  # whose buffers the execution context points at

    def _bind(self, which: str) -> None:
        if self._bound != which:
            io = self._device_io.addresses() if which == "device" else {k: b.ptr for k, b in self.runner.buffers.items()}
            self.runner.bind(io)
            self._bound = which

    def translate_tensor(self, crops, style, strength):
        """Device path: (N, 3, S, S) crops in [0, 255] on the GPU -> stylised, same range and layout,
        enqueued on torch's current stream (the pipeline's compute stream); no host sync."""
        import torch

        if self._device_io is None:
            from livefilter.translate.tensorrt_device import TensorRTDeviceIO

            self._device_io = TensorRTDeviceIO(self.runner, self.look, crops.device)
        self._bind("device")
        handle = torch.cuda.current_stream(crops.device).cuda_stream if crops.is_cuda else 0
        return self._device_io.translate(crops, style, strength, handle)

    def __call__(self, crops: np.ndarray, style, strength) -> np.ndarray:
        n = len(crops)
        if n == 0:
            return crops
        m, st = self._mem, self.stream
        self._bind("host")
        np.copyto(self._host_in.array[:n], self._codec.encode(crops))
        m.copy_htod_async(self.runner.buffers[self.look.input_names["image"]], self._host_in.ptr,
                          self._host_in.array[:n].nbytes, st)
        if self._style:
            self._host_style.array[:n] = style if style is not None else np.asarray(self.look.style_code, np.float32)
            m.copy_htod_async(self.runner.buffers[self._style], self._host_style.ptr, self._host_style.array[:n].nbytes, st)
        if self._strength:
            self._host_strength.array[:n, 0] = strength
            m.copy_htod_async(self.runner.buffers[self._strength], self._host_strength.ptr,
                              self._host_strength.array[:n].nbytes, st)
        self.runner.enqueue(n, st.ptr)
        m.copy_dtoh_async(self._host_out.ptr, self.runner.buffers[self._out_name], self._host_out.array[:n].nbytes, st)
        st.synchronize()  # the host-facing protocol returns host crops; the GPU pipeline uses translate_tensor
        return self._codec.decode(self._host_out.array[:n])
