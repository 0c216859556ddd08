"""Decode on the GPU (NVDEC through torchcodec): frames never touch host memory on the way in.

A :class:`DeviceDecodeSource` hands the pipeline :class:`~livefilter.types.CapturedFrame` objects
whose ``image`` is an (H, W, 3) uint8 CUDA tensor; the device pipeline copies it device-to-device
into its frame buffer instead of uploading. It reads files (and seekable URLs) at their own pace
with back-pressure, like the PyAV file source. Live inputs (cameras, RTSP) stay on PyAV.

``open_decode_source`` opens one; ``sources/decoders.py`` ``choose_decode`` decides between NVDEC and PyAV.
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol

from livefilter.errors import BackendUnavailable, InputError, SettingError
from livefilter.sources.spec import InputSpec
from livefilter.sources.threaded import ThreadedSource
from livefilter.types import SourceInfo

log = logging.getLogger(__name__)

class DeviceDecoder(Protocol):
    """What the source needs from a GPU decoder: size, rate, length and frame i as a device tensor."""

    width: int
    height: int
    fps: float
    frame_count: int | None

    def frame(self, index: int):
        """(H, W, 3) uint8 RGB tensor on the device, or raises IndexError past the end."""

    def close(self) -> None: ...


class TorchcodecDecoder:
    """NVDEC decoding with torchcodec's ``VideoDecoder`` (``device="cuda"``, NHWC uint8 output)."""

    def __init__(self, target: str, device: str = "cuda") -> None:
        try:
            from torchcodec.decoders import VideoDecoder
        except (ImportError, OSError, RuntimeError) as e:  # missing, or its FFmpeg/CUDA libraries are
            raise BackendUnavailable(f"nvdec: torchcodec is not usable here ({str(e).splitlines()[0]}) — "
                                     "pip install 'livefilter[nvdec]' with CUDA torch, and FFmpeg") from None
        try:
            # approximate seeking: no up-front scan of the file; frames are read in order anyway
            self._dec = VideoDecoder(target, dimension_order="NHWC", device=device, seek_mode="approximate")
        except (RuntimeError, ValueError) as e:
            raise InputError(f"{target} cannot be decoded on the GPU ({str(e).splitlines()[0]})") from None
        md = self._dec.metadata
        self.width, self.height = int(md.width or 0), int(md.height or 0)
        fps = float(md.average_fps or 30.0)
        self.fps = fps if 1.0 <= fps <= 1000.0 else 30.0
        self.frame_count = int(md.num_frames) if md.num_frames else None

    def frame(self, index: int):
        return self._dec.get_frame_at(index).data

    def close(self) -> None:
        self._dec = None


class DeviceDecodeSource(ThreadedSource):
    """A :class:`~livefilter.protocols.Source` whose frames are decoded and kept on the GPU."""

    thread_name = "livefilter-nvdec"
    stalled = "decoder stalled"

    def __init__(self, spec: InputSpec, decoder: DeviceDecoder, loop: bool = False, read_timeout: float = 10.0) -> None:
        if spec.is_live:
            raise SettingError(f"GPU decoding reads files and seekable URLs; {spec.kind} input uses PyAV")
        self.spec = spec
        self._decoder = decoder
        if decoder.width < 2 or decoder.height < 2:
            decoder.close()
            raise InputError(f"{spec.target}: video stream has no frame size (corrupt header?)")
        self.info = SourceInfo(
            width=decoder.width // 2 * 2,
            height=decoder.height // 2 * 2,
            fps=decoder.fps,
            is_live=False,
            description=f"{spec.kind}:{spec.target} (nvdec)",
            frame_count=decoder.frame_count,
            audio_path=spec.target if spec.kind == "file" else None,
            time_base=None,
        )
        self.decode_errors = 0
        self._start(keep_latest=False, loop=loop, read_timeout=read_timeout)

    def _decode(self, index: int):
        """Frame ``index`` cropped to even size; waits for the decoder's stream on this thread only."""
        image = self._decoder.frame(index)
        if image.dim() != 3 or image.shape[2] != 3:
            raise InputError(f"{self.spec.target}: the GPU decoder returned {tuple(image.shape)}, not (H, W, 3)")
        image = image[: self.info.height, : self.info.width]
        if image.is_cuda:
            import torch

            # the pipeline's streams read this tensor; the wait happens here, on the decode thread
            torch.cuda.current_stream(image.device).synchronize()
        return image

    def _pass(self):
        i = 0
        while self.info.frame_count is None or i < self.info.frame_count:
            try:
                image = self._decode(i)
            except IndexError:  # past the end (the header's frame count can be missing or high)
                return
            yield image, i / self.info.fps
            i += 1

    def _failure(self, e: Exception) -> InputError:
        first = str(e).splitlines()[0] if str(e) else ""
        return InputError(f"{self.spec.target}: GPU decoding failed ({type(e).__name__}: {first})")

    def _close_input(self) -> None:
        self._decoder.close()


def open_decode_source(spec: InputSpec, loop: bool = False,
                       decoder_factory: Callable[[str], DeviceDecoder] = TorchcodecDecoder) -> DeviceDecodeSource:
    """Open ``spec`` for GPU decoding (raises BackendUnavailable when torchcodec cannot run here)."""
    return DeviceDecodeSource(spec, decoder_factory(spec.target), loop=loop)
