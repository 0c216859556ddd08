"""The naive baseline: how typical live face tools work.

Full detection + landmarks on every frame, one synchronous model call per face, and a full-frame
float composite (paste the resampled stylised crop under a full-frame mask). Uses the same detector,
aligner, look and mask as the pipeline, so both style the same faces and the comparison is fair.
"""

from __future__ import annotations

import cv2
import numpy as np

from livefilter.align.host import Aligner, invert_affine
from livefilter.composite.blend import ellipse_mask
from livefilter.looks.pack import Look
from livefilter.infra.stats import StageStats


class NaivePipeline:
    def __init__(self, detector, translator, look: Look, max_faces: int = 4, stats: StageStats | None = None):
        self.detector = detector
        self.translator = translator
        self.look = look
        self.max_faces = max_faces
        self.aligner = Aligner(look.input_size, look.align_padding)
        self.mask = ellipse_mask(self.aligner.template, look.input_size)
        self.style = np.asarray(look.style_code, np.float32) if look.style_code is not None else None
        self.stats = stats or StageStats()
        self.last_faces = []

    def process(self, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
        st = self.stats
        with st.time("detect"):
            faces = self.detector.detect(image)[: self.max_faces]
        self.last_faces = faces
        h, w = image.shape[:2]
        result = image.astype(np.float32)
        for face in faces:
            with st.time("align"):
                m = self.aligner.transform(face.keypoints)
                crop = cv2.warpAffine(image, m, (self.aligner.size, self.aligner.size), flags=cv2.INTER_LINEAR)
            with st.time("translate"):
                styled = self.translator(crop[None], self.style, np.array([strength], np.float32))[0].copy()
            with st.time("blend"):
                inv = invert_affine(m)
                back = cv2.warpAffine(styled, inv, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
                alpha = cv2.warpAffine(self.mask, inv, (w, h), flags=cv2.INTER_LINEAR)[:, :, None]
                if not self.translator.strength_in_network:
                    alpha = alpha * strength
                result = result * (1.0 - alpha) + back * alpha
        return np.clip(result + 0.5, 0, 255).astype(np.uint8)
