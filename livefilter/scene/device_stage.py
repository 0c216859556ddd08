"""The scene stage on the device: :class:`livefilter.scene.stage.SceneStage`'s twin for the device
pipeline, on the (H, W, 3) uint8 frame tensor it keeps on the GPU (one upload, one download per frame
stay as they are: the stage adds no host round trip, the skin colour for the grade included)."""

from __future__ import annotations

import torch

from livefilter.scene.background import BackgroundConfig
from livefilter.scene.device_compose import DeviceBackground, apply_table, composite, device_grade_table
from livefilter.scene.device_segment import DevicePersonSegmenter
from livefilter.scene.segment import SegmentConfig
from livefilter.scene.stage import SKIN_SMOOTHING, LookScene, SceneControls, SceneStage, skin_sample
from livefilter.types import Face


def device_skin_rgb(frame: torch.Tensor, faces: list[Face]) -> torch.Tensor | None:
    """:func:`livefilter.scene.stage.face_skin_rgb` on a device frame (a (3,) float64 tensor)."""
    if not faces:
        return None
    patch = frame[skin_sample(faces)]
    if patch.numel() == 0:
        return None
    return patch.reshape(-1, 3).to(torch.float64).mean(0)


class DeviceSceneStage:
    """Background and grade on an (H, W, 3) uint8 device frame, in place."""

    def __init__(self, segment: SegmentConfig | None, device) -> None:
        self.device = torch.device(device)
        self.segmenter = DevicePersonSegmenter(segment, self.device)
        self._background: DeviceBackground | None = None
        self._bg_key: tuple | None = None
        self._skin: torch.Tensor | None = None
        self.last_mask: torch.Tensor | None = None

    def close(self) -> None:
        if self._background is not None:
            self._background.close()

    def _stage_for(self, bg: BackgroundConfig) -> DeviceBackground:
        key = (bg.mode, bg.blur, str(bg.source) if bg.mode == "replace" else None)
        if key != self._bg_key:
            if self._background is not None:
                self._background.close()
            self._background = DeviceBackground(bg, self.device)
            self._bg_key = key
        return self._background

    def _table(self, grade, strength: float, frame: torch.Tensor, faces: list[Face]) -> torch.Tensor:
        skin = device_skin_rgb(frame, faces) if grade.keep_skin else None
        if skin is not None:
            self._skin = skin if self._skin is None else SKIN_SMOOTHING * self._skin + (1 - SKIN_SMOOTHING) * skin
        return device_grade_table(grade, strength, self._skin if grade.keep_skin else None, self.device)

    @torch.no_grad()
    def apply(self, frame: torch.Tensor, faces: list[Face], controls: SceneControls,
              look: LookScene | None = None) -> torch.Tensor:
        bg, grade, strength = SceneStage.resolve(controls, look)
        if bg.mode == "keep" and grade is None:
            return frame
        table = self._table(grade, strength, frame, faces) if grade is not None else None
        if bg.mode == "keep" and grade.region == "frame":
            return apply_table(frame.clone(), table, frame)
        mask = self.segmenter(frame)
        self.last_mask = mask
        stage = self._stage_for(bg)
        layer = stage.layer(frame, mask, table if grade is not None and grade.region in ("frame", "background") else None,
                            low=self.segmenter.low)
        person = frame
        if grade is not None and grade.region in ("frame", "person"):
            person = apply_table(frame, table, torch.empty_like(frame))
        return composite(person, layer, mask, frame)
