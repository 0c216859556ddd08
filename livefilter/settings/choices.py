"""Every closed set of choices, and the face limit, defined once.

The ``Literal`` types annotate settings; ``typing.get_args`` gives the tuples that the validators
and the CLI's help text use, so a new choice is added here and nowhere else.
"""

from __future__ import annotations

from typing import Literal, get_args

PixelFormat = Literal["RGB", "BGR", "I420", "NV12"]  # what a sink can be given
PlanarFormat = Literal["I420", "NV12"]
DeviceOutputFormat = Literal["RGB", "I420", "NV12"]  # what the device pipeline converts to on the GPU
OnlyMode = Literal["all", "largest", "center"]  # which faces are styled
DetectorName = Literal["blazeface", "insightface"]  # the built-in ones (detect/registry.py may hold more)

PIXEL_FORMATS: tuple[str, ...] = get_args(PixelFormat)
PLANAR_FORMATS: tuple[str, ...] = get_args(PlanarFormat)
DEVICE_OUTPUT_FORMATS: tuple[str, ...] = get_args(DeviceOutputFormat)
ONLY_MODES: tuple[str, ...] = get_args(OnlyMode)
DETECTORS: tuple[str, ...] = get_args(DetectorName)

MAX_FACES = 16  # faces styled per frame: the pipeline, the tracker and engine batches alike
TRANSLATE_BUDGET_MS = (1.0, 10000.0)  # --budget-ms: a live run's deadline for one face translation
