"""RGB -> the virtual camera's pixel format, into preallocated buffers."""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.settings.choices import PIXEL_FORMATS, PLANAR_FORMATS
from livefilter.errors import SettingError

FORMATS = PIXEL_FORMATS
PLANAR = PLANAR_FORMATS


def to_rgb(frame: np.ndarray, fmt: str) -> np.ndarray:
    """An RGB copy of a planar I420 / NV12 frame (H*3/2, W); RGB frames are returned unchanged."""
    if frame.ndim == 3:
        return frame
    code = {"I420": cv2.COLOR_YUV2RGB_I420, "NV12": cv2.COLOR_YUV2RGB_NV12}.get(fmt.upper())
    if code is None:
        raise ValueError(f"a planar frame needs I420 or NV12, not {fmt!r}")
    return cv2.cvtColor(frame, code)


class PixelConverter:
    """Converts RGB frames of one size to one pixel format without per-frame allocation."""

    def __init__(self, fmt: str, width: int, height: int) -> None:
        fmt = fmt.upper()
        if fmt not in FORMATS:
            raise SettingError(f"pixel format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if width % 2 or height % 2:
            raise SettingError(f"{fmt} needs an even frame size, got {width}x{height}")
        self.fmt, self.width, self.height = fmt, width, height
        if fmt == "RGB":
            self._buf = None
        elif fmt == "BGR":
            self._buf = np.empty((height, width, 3), np.uint8)
        else:
            self._buf = np.empty((height * 3 // 2, width), np.uint8)
            self._i420 = np.empty((height * 3 // 2, width), np.uint8) if fmt == "NV12" else None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        if rgb.ndim == 2:  # already converted (on the GPU, by the device pipeline)
            if self.fmt not in PLANAR or rgb.shape != (self.height * 3 // 2, self.width):
                raise ValueError(f"got a planar {rgb.shape} frame for a {self.fmt} {self.width}x{self.height} sink")
            return rgb
        if self.fmt == "RGB":
            return rgb
        if self.fmt == "BGR":
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=self._buf)
        if self.fmt == "I420":
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420, dst=self._buf)
        # NV12 = Y plane + interleaved U,V at quarter resolution; OpenCV has no direct RGB->NV12.
        h, w = self.height, self.width
        i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420, dst=self._i420)
        out = self._buf
        out[:h] = i420[:h]
        q = (h // 2) * (w // 2)
        flat_in = i420.reshape(-1)
        uv = out[h:].reshape(-1)
        uv[0::2] = flat_in[h * w : h * w + q]
        uv[1::2] = flat_in[h * w + q : h * w + 2 * q]
        return out
