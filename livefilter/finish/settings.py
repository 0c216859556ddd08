"""The skin finish's settings and the constants its host and device versions share (NumPy-free: the look
schema reads :class:`FinishSettings`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from livefilter.errors import SettingError

WORK_FACE_W = 112.0  # px across the face (cheek to cheek) at the working resolution (the box is never upscaled)
BOX_MARGIN = 0.03  # the face box reaches this fraction of the face width beyond the face oval
GUIDE_RADIUS = 0.06  # the guided filter's radius, as a fraction of the working face width (7 px)
GUIDE_EPS = 22.0 ** 2  # its regulariser, in squared 8-bit levels: a local spread well above 22 levels is an edge, kept
SHINE_RADIUS = 0.12  # the box over which a highlight is compared with its surrounding skin
SHINE_LEVEL = 6.0  # 8-bit levels of luma above the surrounding skin before a highlight counts as shine
SHINE_GAIN = 0.5  # the share of that excess taken away at strength 1
# The skin likelihood (beard, stubble, hairline, glasses and jewellery are not skin): distances in the
# cheeks' own standard deviations (the face's own colour statistics).
CHROMA_SD_FLOOR = 2.0  # the least chroma spread the cheeks are granted (8-bit levels of Cr/Cb)
LUMA_SD_FLOOR = 6.0  # ... and luma spread
CHROMA_Z = (3.0, 2.0)  # chroma distance: full likelihood up to the first, falling to zero over the second
DARK_Z = (0.3, 0.7)  # darker than the cheeks by the first (in luma sds) starts counting as hair, fully by +second
TEXTURE_RATIO = (0.8, 0.6)  # local luma spread over the cheeks': hair from the first, fully by +second



def check_unit(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= float(value) <= 1.0:
        raise SettingError(f"{name} must be a number between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FinishSettings:
    """``strength``: how much of the skin's blemishes, uneven texture and shine is smoothed (0: off);
    ``under_eye``: how far dark circles are lifted towards the surrounding skin (0: not at all)."""

    strength: float = 0.0
    under_eye: float = 0.0

    def validate(self) -> "FinishSettings":
        check_unit("finish strength", self.strength)
        check_unit("finish under-eye", self.under_eye)
        return self

    @property
    def active(self) -> bool:
        return self.strength > 0 or self.under_eye > 0
