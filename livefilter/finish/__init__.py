"""Skin finish: smoother skin that keeps pores, edges and the person's own skin tone.

``settings.py`` holds the user's settings (:class:`FinishSettings`) and the constants both versions share,
``geometry.py`` the per-face maps rasterised from the landmarks (OpenCV, used by both), ``host.py`` the
host version (NumPy/OpenCV) and ``device.py`` its device twin (torch), with the same maths.
"""

from livefilter.finish.settings import FinishSettings

__all__ = ["FinishSettings"]
