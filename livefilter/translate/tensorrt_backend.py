"""TensorRT translator: deserialise a cached engine, device buffers allocated once, execute_async_v3."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from livefilter.engines.cache import EngineCache
from livefilter.engines.tensorrt_build import BuildSettings, build_engine, import_tensorrt, tensorrt_key
from livefilter.errors import ModelError
from livefilter.looks.pack import Look
from livefilter.translate.codec import CropCodec

log = logging.getLogger(__name__)


class EngineLoadError(ModelError):
    """TensorRT refused a serialised engine (a corrupt file, or built by another TensorRT / GPU)."""


def deserialize(runtime, engine_path: Path | bytes):
    """The engine in ``engine_path`` (the file is closed before TensorRT parses it), or the serialised
    engine itself when the build ran uncached."""
    in_memory = isinstance(engine_path, (bytes, bytearray))
    data = bytes(engine_path) if in_memory else Path(engine_path).read_bytes()
    what = "the uncached engine" if in_memory else Path(engine_path).name
    try:
        engine = runtime.deserialize_cuda_engine(data)
    except Exception as e:  # some TensorRT versions raise instead of returning None
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise EngineLoadError(f"{what}: TensorRT could not deserialise the engine ({first})") from None
    if engine is None:
        raise EngineLoadError(f"{what}: TensorRT could not deserialise the engine (built for another GPU/TensorRT?)")
    return engine


class TensorRTRunner:
    """Runs an engine on device buffers. ``enqueue`` never synchronises the host."""

    def __init__(self, engine_path, max_batch: int) -> None:
        from livefilter.gpu import cuda_mem

        trt = import_tensorrt()
        self._mem = cuda_mem
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = deserialize(self.runtime, engine_path)
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
        self._batch: int | None = None  # the batch the input shapes are set for
        self.bind({name: b.ptr for name, b in self.buffers.items()})

    def bind(self, addresses: dict[str, int]) -> None:
        """Point the engine's inputs and outputs at these device addresses (a host-side call)."""
        for name, ptr in addresses.items():
            self.context.set_tensor_address(name, ptr)

    def enqueue(self, batch: int, stream_handle: int) -> None:
        if not 1 <= batch <= self.max_batch:
            raise ValueError(f"{batch} faces are outside the engine's batch range 1..{self.max_batch}")
        if batch != self._batch:  # shapes are host-side state of the context: set only on a change
            for name in self.inputs:
                shape = (batch,) + self.shapes[name][0][1:]
                if not self.context.set_input_shape(name, shape):
                    self._batch = None
                    raise ModelError(f"TensorRT refused input shape {shape} for '{name}' (outside the engine's profile)")
            self._batch = batch
        if not self.context.execute_async_v3(stream_handle):
            raise ModelError("TensorRT execute_async_v3 failed")

    def close(self) -> None:
        for b in self.buffers.values():
            b.free()


def load_runner(look: Look, settings: BuildSettings, cache: EngineCache, progress=None) -> TensorRTRunner:
    """The engine of ``look`` from the cache (built when missing), ready to run.

    An engine TensorRT refuses to deserialise (e.g. a driver update changed what it accepts) is
    dropped from the cache and rebuilt once, with the build's progress bar; a second refusal is
    the error.
    """
    path = build_engine(look, settings, cache, progress)
    try:
        return TensorRTRunner(path, settings.max_faces)
    except EngineLoadError as e:
        if not isinstance(path, Path):  # freshly built in memory: rebuilding would not help
            raise
        log.warning("%s; rebuilding it once", e)
        trt = import_tensorrt()
        cache.invalidate(tensorrt_key(look, settings, trt.__version__))
        path = build_engine(look, settings, cache, progress, show_bar=True)
        return TensorRTRunner(path, settings.max_faces)


class TensorRTTranslator:
    """The Translator protocol over a TensorRT engine (host crops in, host crops out), and
    :meth:`translate_tensor` for the GPU pipeline (its device tensors in and out, its stream)."""

    def __init__(self, look: Look, max_faces: int = 4, precision: str = "fp16", cache: EngineCache | None = None,
                 progress=None) -> None:
        from livefilter.gpu import cuda_mem

        self.look = look
        self.input_size = look.input_size
        self.name = f"tensorrt-{precision}"
        self.strength_in_network = look.input_names.get("strength") is not None
        self.runner = load_runner(look, BuildSettings(max_faces=max_faces, precision=precision),
                                  cache or EngineCache(), progress)
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

    def warm_up(self, batches=None, device="cuda") -> None:
        """Allocate the device-path tensors and run every batch size once (TensorRT prepares each
        new input shape on its first enqueue), so the first frames with N faces are not slower."""
        import torch

        from livefilter.translate.tensorrt_device import TensorRTDeviceIO

        if self._device_io is None:
            self._device_io = TensorRTDeviceIO(self.runner, self.look, device)
        s = self.input_size
        dev = self._device_io.device
        for n in batches if batches is not None else range(1, self.runner.max_batch + 1):
            self.translate_tensor(torch.full((n, 3, s, s), 128.0, device=dev), None, torch.ones(n, device=dev))
        if dev.type == "cuda":
            torch.cuda.current_stream(dev).synchronize()

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
