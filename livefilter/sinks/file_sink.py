"""Video file and RTMP output through PyAV.

The output keeps the input's frame rate; audio of a file input is copied packet by packet
(no re-encode) and interleaved with the video as it is written.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from livefilter.errors import OutputError
from livefilter.types import CapturedFrame, SourceInfo

log = logging.getLogger(__name__)


def _rate(info: SourceInfo) -> Fraction:
    if info.time_base:
        return Fraction(*info.time_base)
    return Fraction(info.fps).limit_denominator(1001)


class _AudioCopier:
    """Remuxes the audio packets of the input file up to a given time."""

    def __init__(self, path: str, out: av.container.OutputContainer) -> None:
        self._in = av.open(path)
        self._src = self._in.streams.audio[0]
        self.stream = out.add_stream_from_template(self._src)
        self._packets = self._in.demux(self._src)
        self._pending = None
        self._done = False

    def mux_until(self, out: av.container.OutputContainer, seconds: float | None) -> None:
        while not self._done:
            pkt = self._pending
            if pkt is None:
                try:
                    pkt = next(self._packets)
                except (StopIteration, av.error.FFmpegError):
                    self._done = True
                    break
            if pkt.dts is None:  # flush packet
                self._pending = None
                continue
            t = float(pkt.pts * pkt.time_base) if pkt.pts is not None else 0.0
            if seconds is not None and t > seconds:
                self._pending = pkt
                return
            self._pending = None
            pkt.stream = self.stream
            out.mux(pkt)

    def close(self) -> None:
        self._in.close()


class FileSink:
    """Encodes RGB frames to H.264 in an MP4/MKV/MOV file or an RTMP (FLV) stream."""

    def __init__(
        self,
        target: str,
        info: SourceInfo,
        *,
        overwrite: bool = False,
        codec: str | None = None,
        crf: int = 20,
        copy_audio: bool = True,
    ) -> None:
        self.target = target
        self.is_stream = target.lower().startswith(("rtmp://", "rtmps://"))
        fmt = "flv" if self.is_stream else None
        if not self.is_stream:
            try:
                path = Path(target).expanduser()
            except RuntimeError:  # "~user" for a user that does not exist
                raise OutputError(f"output folder for {target} does not exist") from None
            if path.exists() and not overwrite:
                raise OutputError(f"{path} exists (use --overwrite to replace it)")
            if not path.parent.exists():
                raise OutputError(f"output folder {path.parent} does not exist")
            target = str(path)
        try:
            self._out = av.open(target, mode="w", format=fmt, timeout=10.0)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise OutputError(f"cannot open output {self.target}: {e}") from None
        self.rate = _rate(info)
        codec = codec or ("libx264" if "libx264" in av.codecs_available else "mpeg4")
        self._stream = self._out.add_stream(codec, rate=self.rate)
        self._stream.width = info.width
        self._stream.height = info.height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {
                "crf": str(crf),
                "preset": "veryfast",
                **({"tune": "zerolatency"} if self.is_stream else {}),
            }
        self._audio = None
        if copy_audio and info.audio_path and not self.is_stream:
            try:
                self._audio = _AudioCopier(info.audio_path, self._out)
            except (av.error.FFmpegError, ValueError) as e:
                log.warning("audio not copied (%s)", e)
        self._frame: av.VideoFrame | None = None
        self._pts = 0
        self.frames = 0

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        vf = av.VideoFrame.from_ndarray(image, format="rgb24")
        vf.pts = self._pts  # in the encoder's time base, 1/rate: one tick per frame
        self._pts += 1
        try:
            for packet in self._stream.encode(vf):
                self._out.mux(packet)
            if self._audio is not None:
                self._audio.mux_until(self._out, float(self._pts / self.rate))
        except (av.error.FFmpegError, OSError) as e:
            raise OutputError(f"writing {self.target} failed: {e}") from None
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finalise the container (the file is playable afterwards)."""
        if self._out is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            if self._audio is not None:
                self._audio.mux_until(self._out, None)
                self._audio.close()
        except av.error.FFmpegError as e:
            log.warning("finalising %s: %s", self.target, e)
        finally:
            self._out.close()
            self._out = None
