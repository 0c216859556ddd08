"""Video file and RTMP output through PyAV.

The output keeps the input's frame rate; audio of a file input is copied packet by packet
(no re-encode), interleaved with the video as it is written, and ends where the video ends (a run
stopped early by --max-frames, --duration or a signal gets no audio past its last frame).

A file is written to a temporary file in the target folder and renamed into place only once it is
finalised (:mod:`livefilter.infra.atomic`), so a failed or interrupted run never leaves a half-file where a
good one was. When the disk fills up, the run stops, the frames written so far are finalised into a
playable file with the space held in reserve (:mod:`livefilter.sinks.reserved_file`), and that file
never replaces an existing one.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from livefilter.infra.atomic import DISK_FULL_ERRNOS, check_distinct, check_target, commit, discard, is_disk_full, temp_path_for
from livefilter.errors import OutputError
from livefilter.sinks.reserved_file import ReservedFile
from livefilter.types import CapturedFrame, SourceInfo

log = logging.getLogger(__name__)


#: container format per file suffix (the muxer writes to a file object, so it cannot guess)
CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".flv": "flv"}


def _errno(e: BaseException) -> int | None:
    return getattr(e, "errno", None)


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
        inputs: tuple[str, ...] = (),
    ) -> None:
        self.target = target
        self.is_stream = target.lower().startswith(("rtmp://", "rtmps://"))
        self.overwrite = overwrite
        self.path: Path | None = None  # the final file
        self._tmp: Path | None = None  # where it is written until finalised
        self._fh: ReservedFile | None = None
        self.disk_full = False
        self.failed = False
        self.closed = False  # set when the sink cannot take more frames (disk full): the run stops
        if self.is_stream:
            dest, fmt = target, "flv"
        else:
            self.path = check_target(Path(target), overwrite=overwrite)
            check_distinct(self.path, info.audio_path, *inputs)
            fmt = CONTAINER_FORMATS.get(self.path.suffix.lower())
            if fmt is None:
                raise OutputError(f"unsupported output file type {self.path.suffix!r} "
                                  f"(use {', '.join(sorted(CONTAINER_FORMATS))})")
            self._tmp = temp_path_for(self.path)
            try:
                self._fh = dest = ReservedFile(self._tmp)
            except OSError as e:
                discard(self._tmp)
                raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from None
        try:
            self._out = av.open(dest, mode="w", format=fmt, timeout=10.0)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            self._abandon()
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

    @property
    def video_seconds(self) -> float:
        """Media time written so far (the output's length)."""
        return float(self._pts / self.rate)

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        if self.closed:
            return
        vf = av.VideoFrame.from_ndarray(image, format="rgb24")
        vf.pts = self._pts  # in the encoder's time base, 1/rate: one tick per frame
        self._pts += 1
        try:
            for packet in self._stream.encode(vf):
                self._out.mux(packet)
            if self._audio is not None:
                self._audio.mux_until(self._out, self.video_seconds)
        except (av.error.FFmpegError, OSError) as e:
            self.closed = True
            if is_disk_full(e) or _errno(e) in DISK_FULL_ERRNOS:
                self.disk_full = True
                return  # close() reports it, after finalising what it can
            self.failed = True
            raise OutputError(f"writing {self.target} failed: {e}") from None
        self.frames += 1
        if self._fh is not None and self._fh.full:
            self.disk_full = True
            self.closed = True  # this frame went into the reserve; finalise with the rest of it

    def close(self) -> None:
        """Flush the encoder and finalise the container (the file is playable afterwards), then move it
        into place. Raises :class:`OutputError` when the disk filled up (after keeping what it could)."""
        if self._out is None:
            return
        finalised = True
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            if self._audio is not None:
                # the audio ends with the video, however the run ended
                self._audio.mux_until(self._out, self.video_seconds)
        except (av.error.FFmpegError, OSError) as e:
            finalised = False
            log.warning("finalising %s: %s", self.target, e)
        finally:
            if self._audio is not None:
                self._audio.close()
            try:
                self._out.close()
            except (av.error.FFmpegError, OSError) as e:
                finalised = False
                log.warning("finalising %s: %s", self.target, e)
            self._out = None
            if self._fh is not None:
                try:
                    self._fh.close()
                except OSError:
                    finalised = False
        self.closed = True
        if self.path is not None:
            self._place(finalised)

    def _place(self, finalised: bool) -> None:
        """Rename the finished temporary file into place (or keep / drop it after a failure)."""
        assert self.path is not None and self._tmp is not None
        tmp, self._tmp = self._tmp, None
        if self.failed or not finalised or self.frames == 0:
            discard(tmp)
            if self.disk_full:
                raise OutputError(f"disk full writing {self.path} after {self.frames} frames; "
                                  f"nothing could be kept and nothing was replaced")
            if self.frames == 0 and not self.failed and finalised:
                log.info("no frame was written; %s left as it was", self.path)
            return
        if not self.disk_full:
            commit(tmp, self.path, overwrite=self.overwrite)
            return
        # Disk full: the frames so far are a playable file; it never replaces an existing one.
        keep = self.path
        if keep.exists() or keep.is_symlink():
            keep = self.path.with_name(f"{self.path.stem}.incomplete{self.path.suffix}")
            n = 1
            while keep.exists() or keep.is_symlink():
                n += 1
                keep = self.path.with_name(f"{self.path.stem}.incomplete-{n}{self.path.suffix}")
        commit(tmp, keep, overwrite=False)
        not_replaced = f"; {self.path} was not replaced" if keep != self.path else ""
        raise OutputError(f"disk full: stopped after {self.frames} frames ({self.video_seconds:.1f} s), "
                          f"kept as {keep} (playable){not_replaced}")

    def _abandon(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
        if self._tmp is not None:
            discard(self._tmp)
            self._tmp = None
