"""pyvirtualcam output: OBS Virtual Camera (Windows/macOS), v4l2loopback (Linux), Unity Capture."""

from __future__ import annotations

import logging
import platform

import numpy as np

from livefilter.errors import OutputError
from livefilter.sinks.pixel_format import PixelConverter
from livefilter.types import CapturedFrame, SourceInfo

log = logging.getLogger(__name__)

V4L2_HINT = (
    'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="livefilter" exclusive_caps=1'
)


def default_pixel_format(backend: str | None, system: str | None = None) -> str:
    """The format that needs no conversion in the backend.

    v4l2loopback converts RGB to I420 itself inside pyvirtualcam's native code, as does OBS on
    macOS; OBS on Windows stores NV12, so converting once here avoids a second conversion there.
    """
    system = system or platform.system()
    if backend in (None, "obs") and system == "Windows":
        return "NV12"
    return "RGB"


class VirtualCamSink:
    closed = False  # a lost consumer raises from write instead

    def __init__(
        self,
        info: SourceInfo,
        *,
        backend: str | None = None,
        device: str | None = None,
        pixel_format: str | None = None,
    ) -> None:
        import pyvirtualcam

        fmt_name = (pixel_format or default_pixel_format(backend)).upper()
        self._convert = PixelConverter(fmt_name, info.width, info.height)
        try:
            self._cam = pyvirtualcam.Camera(
                width=info.width,
                height=info.height,
                fps=info.fps,
                fmt=getattr(pyvirtualcam.PixelFormat, fmt_name),
                device=device,
                backend=backend,
            )
        except Exception as e:  # pyvirtualcam raises RuntimeError/ValueError with its own text
            hint = f" — on Linux load v4l2loopback: {V4L2_HINT}" if platform.system() == "Linux" else (
                " — install OBS Studio and start its Virtual Camera once"
            )
            raise OutputError(f"no virtual camera available ({str(e).splitlines()[0]}){hint}") from None
        self.device = self._cam.device
        log.info("virtual camera %s (%s, %s)", self.device, backend or "auto", fmt_name)

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        self._cam.send(self._convert(image))

    def close(self) -> None:
        self._cam.close()
