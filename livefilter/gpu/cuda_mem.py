"""The one small CUDA layer: device buffers, pinned host buffers, streams, async copies.

Built on cuda-python (NVIDIA's official bindings): no compile step (unlike pycuda, which builds
against the local CUDA toolkit at install time), a 1:1 mapping of the CUDA runtime API, and raw
stream handles that interoperate with torch (``torch.cuda.ExternalStream``) and TensorRT's
``execute_async_v3``. Imported lazily: the CPU runtime never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livefilter.errors import BackendUnavailable, ModelError


def cudart():
    """cuda-python's CUDA runtime module (its import path moved in 12.6); BackendUnavailable without it."""
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart as runtime  # older cuda-python
        except ImportError:
            raise BackendUnavailable("cuda-python: not installed — pip install 'livefilter[gpu]'") from None
    return runtime


def check(result):
    """cuda-python returns (err, *values); raise on error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    code = int(err)
    if code != 0:
        rt = cudart()
        _, name = rt.cudaGetErrorName(err)
        raise ModelError(f"CUDA error {code} ({name.decode() if isinstance(name, bytes) else name})")
    return values[0] if len(values) == 1 else tuple(values) if values else None


class Stream:
    def __init__(self) -> None:
        self._rt = cudart()
        self.handle = check(self._rt.cudaStreamCreateWithFlags(self._rt.cudaStreamNonBlocking))

    @property
    def ptr(self) -> int:
        return int(self.handle)

    def synchronize(self) -> None:
        check(self._rt.cudaStreamSynchronize(self.handle))

    def close(self) -> None:
        if self.handle is not None:
            check(self._rt.cudaStreamDestroy(self.handle))
            self.handle = None


@dataclass
class DeviceBuffer:
    nbytes: int
    ptr: int

    @classmethod
    def alloc(cls, nbytes: int) -> "DeviceBuffer":
        return cls(nbytes, int(check(cudart().cudaMalloc(nbytes))))

    def free(self) -> None:
        if self.ptr:
            check(cudart().cudaFree(self.ptr))
            self.ptr = 0


class PinnedArray:
    """A NumPy view of page-locked host memory (fast async host<->device copies)."""

    def __init__(self, shape: tuple[int, ...], dtype) -> None:
        self._rt = cudart()
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        self.ptr = int(check(self._rt.cudaMallocHost(nbytes)))
        import ctypes

        buf = (ctypes.c_byte * nbytes).from_address(self.ptr)
        self.array = np.frombuffer(buf, dtype=dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            check(self._rt.cudaFreeHost(self.ptr))
            self.ptr = 0


def copy_htod_async(dst: DeviceBuffer, src_ptr: int, nbytes: int, stream: Stream) -> None:
    rt = cudart()
    check(rt.cudaMemcpyAsync(dst.ptr, src_ptr, nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream.handle))


def copy_dtoh_async(dst_ptr: int, src: DeviceBuffer, nbytes: int, stream: Stream) -> None:
    rt = cudart()
    check(rt.cudaMemcpyAsync(dst_ptr, src.ptr, nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream.handle))
