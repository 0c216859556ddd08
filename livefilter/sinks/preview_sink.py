"""An OpenCV window with an fps / latency overlay."""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.errors import OutputError
from livefilter.types import CapturedFrame


def gui_available() -> bool:
    info = cv2.getBuildInformation()
    for line in info.splitlines():
        if line.strip().startswith("GUI:"):
            return "NONE" not in line.upper()
    return False


class PreviewSink:
    def __init__(self, title: str = "livefilter", stats=None, on_key=None) -> None:
        if not gui_available():
            raise OutputError(
                "this OpenCV build has no window support (opencv-python-headless); "
                "pip install opencv-python for --output preview, or use --output virtualcam"
            )
        self.title = title
        self.stats = stats
        self.on_key = on_key
        self._bgr: np.ndarray | None = None
        self.closed = False
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def write(self, image: np.ndarray, frame: CapturedFrame) -> None:
        if self._bgr is None or self._bgr.shape != image.shape:
            self._bgr = np.empty_like(image)
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=self._bgr)
        if self.stats is not None:
            text = self.stats.overlay_text()
            cv2.putText(self._bgr, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(self._bgr, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.imshow(self.title, self._bgr)
        key = cv2.waitKey(1) & 0xFF
        if key in (27, ord("q")):
            self.closed = True
        elif key != 255 and self.on_key is not None:
            self.on_key(chr(key))

    def close(self) -> None:
        cv2.destroyWindow(self.title)
