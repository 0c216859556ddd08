"""PyAV capture in its own thread.

Decoding runs off the pipeline thread. Live inputs (camera, stream, screen) keep only the newest
frame; files are read at their own pace with back-pressure, so no file frame is ever dropped.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np

from livefilter.errors import InputError
from livefilter.sources.spec import InputSpec
from livefilter.sources.threaded import ThreadedSource
from livefilter.types import SourceInfo

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_DECODE_ERRORS = 50
MAX_PIXELS = 8192 * 8192


def _open_container(spec: InputSpec) -> av.container.InputContainer:
    try:
        return av.open(spec.target, mode="r", format=spec.format, options=spec.options, timeout=10.0)
    except av.error.FileNotFoundError:
        if spec.kind == "camera":
            raise InputError(f"camera {spec.target} not found (is it connected? see `livefilter doctor`)") from None
        raise InputError(f"input not found: {spec.target}") from None
    except av.error.InvalidDataError:
        raise InputError(f"{spec.target} is not a readable video (invalid or truncated data)") from None
    except av.error.PermissionError:
        raise InputError(f"permission denied opening {spec.target}") from None
    except (av.error.FFmpegError, OSError) as e:
        what = {"camera": "camera", "screen": "screen capture", "url": "stream"}.get(spec.kind, "input")
        msg = str(e).split(":")[0] if isinstance(e, av.error.FFmpegError) else str(e)
        raise InputError(f"cannot open {what} {spec.target}: {msg}") from None


class PyAVSource(ThreadedSource):
    """A :class:`~livefilter.protocols.Source` decoding with PyAV in a background thread."""

    def __init__(
        self,
        spec: InputSpec,
        size: tuple[int, int] | None = None,
        read_timeout: float = 10.0,
        loop: bool = False,
    ) -> None:
        self.spec = spec
        self._size = size
        self._container = _open_container(spec)
        streams = self._container.streams.video
        if not streams:
            self._container.close()
            raise InputError(f"{spec.target} has no video stream")
        self._stream = streams[0]
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        width, height = (size if size else (ctx.width, ctx.height))
        if not width or not height:
            self._container.close()
            raise InputError(f"{spec.target}: video stream has no frame size (corrupt header?)")
        if width * height > MAX_PIXELS:
            self._container.close()
            raise InputError(f"{spec.target}: {width}x{height} is larger than livefilter supports (8192x8192)")
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(30, 1)
        fps = float(rate)
        if not 1.0 <= fps <= 1000.0:
            fps = 30.0
        has_audio = bool(self._container.streams.audio) and spec.kind == "file"
        self.info = SourceInfo(
            width=int(width) // 2 * 2,
            height=int(height) // 2 * 2,
            fps=fps,
            is_live=spec.is_live,
            description=f"{spec.kind}:{spec.target}",
            frame_count=int(self._stream.frames) or None,
            audio_path=spec.target if has_audio else None,
            time_base=(rate.numerator, rate.denominator) if isinstance(rate, Fraction) else None,
        )
        self.rate = rate
        self.decode_errors = 0
        self._start(keep_latest=spec.is_live, loop=loop and not spec.is_live, read_timeout=read_timeout)

    def _frames(self):
        """Decoded frames; a corrupt packet is skipped, a long run of them ends the stream."""
        consecutive = 0
        for packet in self._container.demux(self._stream):
            if self._stop.is_set():
                return
            try:
                frames = packet.decode()
                consecutive = 0
            except av.error.FFmpegError as e:
                consecutive += 1
                self.decode_errors += 1
                if self.decode_errors == 1:
                    log.warning("skipping undecodable data in %s (%s)", self.spec.target, e)
                if consecutive >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise InputError(f"{self.spec.target}: too many decoding errors, giving up") from None
                continue
            yield from frames

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.info.width, self.info.height
        if frame.width == w and frame.height == h and frame.format.name == "rgb24":
            return frame.to_ndarray()
        # swscale converts and scales in one pass (no separate resize).
        return frame.reformat(width=w, height=h, format="rgb24").to_ndarray()

    def _pass(self):
        for frame in self._frames():
            yield self._to_rgb(frame), (float(frame.time) if frame.time is not None else None)

    def _rewind(self) -> None:
        self._container.seek(0)

    def _failure(self, e: Exception) -> InputError:
        if isinstance(e, av.error.FFmpegError):
            return InputError(f"{self.spec.target}: read failed ({str(e).split(':')[0]})")
        return super()._failure(e)

    def _close_input(self) -> None:
        self._container.close()


def open_source(
    spec: InputSpec, size: tuple[int, int] | None = None, loop: bool = False
) -> PyAVSource:
    return PyAVSource(spec, size=size, loop=loop)
