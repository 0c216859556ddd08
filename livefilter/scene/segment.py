"""Person segmentation on the host: MediaPipe's selfie segmentation (ONNX) + temporal smoothing +
a guided-filter edge refinement at full resolution.

Per frame (720p, preallocated buffers, no per-frame allocation of frame-sized arrays):

1. the frame is resized (``cv2.INTER_AREA``, in two halvings where the size allows: OpenCV's exact
   2x area path is ~4x faster than one 4x area resize at 720p) to a quarter of its size and that to
   the network's native input (144 x 256 landscape for wide frames, 256 x 256 otherwise), then run
   by onnxruntime through an IO binding into a fixed output buffer; the network runs on every
   ``network_every``-th frame only (a person moves little in 1/30 s) and on any frame that changed a
   lot (a cut, a fast move: ``CHANGE_RERUN``), and the frames between refine the last mask on their
   own edges (step 3);
2. the probability is smoothed over time at the network's size with a motion-adaptive exponential
   filter (:class:`MaskSmoother`): where the new mask differs a lot from the smoothed one (a person
   moves) it is followed at once, small frame-to-frame changes (edge flicker) are averaged out;
3. a fast guided filter (He & Sun 2015) with the frame's luma as the guide, its coefficients
   computed at a quarter of the frame size and upsampled, snaps the mask to the frame's own edges
   (hair, shoulders) at full resolution.

The guided filter is written with ``cv2.boxFilter`` / ``cv2.multiply`` here (``ximgproc`` is not in
opencv-python-headless) so that every step writes into a preallocated buffer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from livefilter.infra.onnx_session import create_session, model_path

log = logging.getLogger(__name__)

#: model name -> (ONNX file, input (height, width))
SEGMENTATION_MODELS = {
    "landscape": ("selfie_segmentation_landscape.onnx", (144, 256)),
    "square": ("selfie_segmentation.onnx", (256, 256)),
}


@dataclass(frozen=True)
class SegmentConfig:
    """How the person mask is made. ``model``: ``auto`` (landscape for frames wider than 4:3),
    ``landscape`` or ``square``. ``smoothing``: 0 (raw per-frame mask) .. 1 (strongest temporal
    smoothing of still edges). ``refine``: guided-filter edge refinement at full resolution.
    ``radius``/``eps``: the guided filter's window (frame pixels at 720p, scaled with the frame)
    and regulariser (on 0..1 luma)."""

    model: str = "auto"
    smoothing: float = 0.8  # measured on talking-head clips: blinking edges / 3-5, jitter / 2 (docs/scene/measures.json)
    refine: bool = True
    radius: int = 16  # chosen by eye on hair against a bright wall (docs/scene/edges.jpg): 8 / 1e-3 left a halo
    eps: float = 1e-4
    threads: int = 1
    network_every: int = 2  # the network on every 2nd frame: half its cost; boundary error unchanged (docs/scene/measures.json)
    refine_scale: int = 2  # the guided filter's output at 1/2 of the frame (then bilinear), or 1: at full size

    def validate(self) -> None:
        if self.model not in ("auto", *SEGMENTATION_MODELS):
            raise ValueError(f"segmentation model must be auto, {' or '.join(SEGMENTATION_MODELS)}, not {self.model!r}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise ValueError("segmentation smoothing must be within 0..1")
        if not 1 <= self.radius <= 64 or not 0 < self.eps <= 1:
            raise ValueError("guided filter radius must be 1..64 and eps within (0, 1]")
        if self.refine_scale not in (1, 2):
            raise ValueError("the edge refinement runs at full (1) or half (2) size")
        if not 1 <= self.network_every <= 4:
            raise ValueError("the segmentation network must run on every 1st to 4th frame")


CHANGE_RERUN = 6.0  # mean level change of the quarter frame that runs the network at once (talking heads: p99 1-3, cuts 30+)
MOTION_GAIN = 2.0  # the smoothing's gain per unit of change: a change of 0.34 or more is followed at once (0.8)


def choose_model(config: SegmentConfig, height: int, width: int) -> str:
    if config.model != "auto":
        return config.model
    return "landscape" if width * 3 > height * 4 else "square"


class MaskSmoother:
    """Motion-adaptive exponential smoothing of a probability map, in place.

    ``s += a * (p - s)`` with a per-pixel gain ``a = clip(a_min + k * |p - s|, 0, 1)``: a pixel whose
    value jumps (the person moved) is followed at once, one that wobbles by a few percent (edge
    flicker, sensor noise) is averaged over ~1/a_min frames. ``smoothing`` 0 turns it off."""

    def __init__(self, shape: tuple[int, int], smoothing: float) -> None:
        self.a_min = 1.0 - 0.85 * smoothing
        self.k = MOTION_GAIN
        self.state = np.zeros(shape, np.float32)
        self._diff = np.zeros(shape, np.float32)
        self._gain = np.zeros(shape, np.float32)
        self.primed = False
        self.gain: np.ndarray | None = None  # the last update's per-pixel gain (None: it passed through)

    def reset(self) -> None:
        self.primed = False

    def update(self, p: np.ndarray) -> np.ndarray:
        if not self.primed or self.a_min >= 1.0:
            np.copyto(self.state, p)
            self.primed = True
            self.gain = None
            return self.state
        self.gain = self._gain
        np.subtract(p, self.state, out=self._diff)
        np.abs(self._diff, out=self._gain)
        np.multiply(self._gain, self.k, out=self._gain)
        np.add(self._gain, self.a_min, out=self._gain)
        np.minimum(self._gain, 1.0, out=self._gain)
        np.multiply(self._diff, self._gain, out=self._diff)
        np.add(self.state, self._diff, out=self.state)
        return self.state


class GuidedUpsampler:
    """Fast guided filter: coefficients at 1/``factor`` of the frame, applied at full resolution.

    ``q = A * I + B`` with ``A, B`` the box-filtered linear coefficients of the low-resolution mask
    on the low-resolution luma ``I`` (He & Sun, "Fast Guided Filter", 2015); A and B are bilinearly
    upsampled, so the mask follows the full-resolution luma's edges. Buffers per frame size."""

    def __init__(self, height: int, width: int, radius: int, eps: float, factor: int = 4) -> None:
        self.full = (height, width)
        self.low = (max(8, height // factor), max(8, width // factor))
        r = max(1, round(radius * height / 720 / factor))
        self.ksize = (2 * r + 1, 2 * r + 1)
        self.eps = float(eps)
        lh, lw = self.low
        z = lambda shape: np.zeros(shape, np.float32)  # noqa: E731 - buffer factory
        self.gray_low8 = np.zeros((lh, lw), np.uint8)
        self.i, self.p, self.mi, self.mp, self.ip, self.ii = (z((lh, lw)) for _ in range(6))
        self.a, self.b = z((lh, lw)), z((lh, lw))
        self.gain_full = z((height, width))
        self.primed = False
        self.a_full, self.b_full = z((height, width)), z((height, width))
        self.gray8 = np.zeros((height, width), np.uint8)
        self._outs = (z((height, width)), z((height, width)))  # alternating: a mask made ahead never
        self._flip = 0  # overwrites the one being composited

    def __call__(self, frame: np.ndarray, mask_small: np.ndarray, quarter: np.ndarray,
                 gain: np.ndarray | None = None) -> np.ndarray:
        """``quarter``: the frame at the low size (the segmenter's own downscale, shared). ``gain``: the
        temporal smoother's per-pixel gain at the network's size; the refined mask is blended with the
        previous one by it, so the frame's own noise (through the full-resolution guide) does not make
        the refined edge blink, while a moving person is followed at once (gain 1)."""
        h, w = self.full
        lh, lw = self.low
        cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY, dst=self.gray8)
        cv2.cvtColor(quarter, cv2.COLOR_RGB2GRAY, dst=self.gray_low8)
        np.multiply(self.gray_low8, np.float32(1.0 / 255.0), out=self.i)
        cv2.resize(mask_small, (lw, lh), dst=self.p, interpolation=cv2.INTER_LINEAR)
        box = lambda src, dst: cv2.boxFilter(src, cv2.CV_32F, self.ksize, dst=dst, borderType=cv2.BORDER_REFLECT_101)  # noqa: E731
        box(self.i, self.mi)
        box(self.p, self.mp)
        cv2.multiply(self.i, self.p, dst=self.ip)
        box(self.ip, self.ip)
        cv2.multiply(self.i, self.i, dst=self.ii)
        box(self.ii, self.ii)
        # cov_ip = E[ip] - E[i]E[p]; var_i = E[ii] - E[i]^2; a = cov / (var + eps); b = E[p] - a E[i]
        cv2.multiply(self.mi, self.mp, dst=self.a)
        cv2.subtract(self.ip, self.a, dst=self.ip)
        cv2.multiply(self.mi, self.mi, dst=self.a)
        cv2.subtract(self.ii, self.a, dst=self.ii)
        cv2.add(self.ii, self.eps, dst=self.ii)
        cv2.divide(self.ip, self.ii, dst=self.a)
        cv2.multiply(self.a, self.mi, dst=self.b)
        cv2.subtract(self.mp, self.b, dst=self.b)
        box(self.a, self.a)
        box(self.b, self.b)
        np.multiply(self.a, np.float32(1.0 / 255.0), out=self.a)  # the guide's 1/255 folded into A: q = A' * luma8 + B
        cv2.resize(self.a, (w, h), dst=self.a_full, interpolation=cv2.INTER_LINEAR)
        cv2.resize(self.b, (w, h), dst=self.b_full, interpolation=cv2.INTER_LINEAR)
        prev = self._outs[self._flip]
        self._flip ^= 1
        out = self._outs[self._flip]
        cv2.multiply(self.a_full, self.gray8, dst=out, dtype=cv2.CV_32F)  # float x uint8, converted on the fly
        cv2.add(out, self.b_full, dst=out)
        np.clip(out, 0.0, 1.0, out=out)
        if gain is not None and self.primed:  # out = prev + gain * (out - prev)
            cv2.resize(gain, (w, h), dst=self.gain_full, interpolation=cv2.INTER_LINEAR)
            cv2.subtract(out, prev, dst=out)
            cv2.multiply(out, self.gain_full, dst=out)
            cv2.add(out, prev, dst=out)
        self.primed = True
        return out


def halvings(height: int, width: int) -> tuple[int, int] | None:
    """The half size when a frame reaches its quarter by two exact 2x area halvings, else None."""
    if height % 4 or width % 4 or height < 32 or width < 32:
        return None
    return height // 2, width // 2


@dataclass(frozen=True)
class LowRes:
    """What the segmenter made of a frame at low resolution, for the background's blur: the frame at
    a quarter of its size and the (smoothed, unrefined) person mask at the network's size; ``fresh``:
    the network ran on this frame (else the mask is the last one)."""

    quarter: np.ndarray
    coarse: np.ndarray
    fresh: bool


class PersonSegmenter:
    """The person's soft mask (H, W) float32 in [0, 1] of RGB uint8 frames, full resolution.

    The returned array is a buffer reused by the next call (copy it to keep it)."""

    def __init__(self, config: SegmentConfig | None = None) -> None:
        self.config = config or SegmentConfig()
        self.config.validate()
        self._sessions: dict[str, object] = {}
        self._size: tuple[int, int] | None = None
        self._count = 0
        self.raw: np.ndarray | None = None  # the network's last output (its input size), for measures
        self.low: LowRes | None = None  # this frame at low resolution (after a call)

    def reset(self) -> None:
        """Forget the temporal state (a new input, a scene cut)."""
        self._count = 0
        if self._size is not None:
            self._smoother.reset()
            if self._guided is not None:
                self._guided.primed = False

    def _session(self, name: str):
        if name not in self._sessions:
            self._sessions[name] = create_session(model_path(SEGMENTATION_MODELS[name][0]), threads=self.config.threads,
                                                  providers=["CPUExecutionProvider"])
        return self._sessions[name]

    def _prepare(self, height: int, width: int) -> None:
        name = choose_model(self.config, height, width)
        nh, nw = SEGMENTATION_MODELS[name][1]
        session = self._session(name)
        self._small = np.zeros((nh, nw, 3), np.uint8)
        self.quarter = np.zeros((max(8, height // 4), max(8, width // 4), 3), np.uint8)
        half = halvings(height, width)
        self._half = np.zeros((*half, 3), np.uint8) if half else None
        self._last_quarter = np.zeros_like(self.quarter)  # the quarter the network last ran on
        self._input = np.zeros((1, 3, nh, nw), np.float32)
        self._output = np.zeros((1, 1, nh, nw), np.float32)
        self._binding = session.io_binding()
        self._binding.bind_cpu_input("image", self._input)
        self._binding.bind_output("mask", "cpu", 0, np.float32, list(self._output.shape), self._output.ctypes.data)
        self._run = session
        self._smoother = MaskSmoother((nh, nw), self.config.smoothing)
        at_half = self.config.refine_scale == 2 and half is not None
        self._refine_on_half = at_half
        self._guided = None
        if self.config.refine:  # at half size its coefficients come from the same quarter (factor 2)
            self._guided = (GuidedUpsampler(*half, self.config.radius, self.config.eps, factor=2) if at_half
                            else GuidedUpsampler(height, width, self.config.radius, self.config.eps))
        self._plain = (np.zeros((height, width), np.float32), np.zeros((height, width), np.float32))
        self._flip = 0
        self._size = (height, width)
        self.model_name = name

    def _downscale(self, frame: np.ndarray) -> None:
        """One pass over the full frame: its quarter, which feeds the network, the guided filter and the blur."""
        h, w = frame.shape[:2]
        if self._size != (h, w):
            self._prepare(h, w)
        qh, qw = self.quarter.shape[:2]
        if self._half is not None:
            cv2.resize(frame, self._half.shape[1::-1], dst=self._half, interpolation=cv2.INTER_AREA)
            cv2.resize(self._half, (qw, qh), dst=self.quarter, interpolation=cv2.INTER_AREA)
        else:
            cv2.resize(frame, (qw, qh), dst=self.quarter, interpolation=cv2.INTER_AREA)

    def infer(self, frame: np.ndarray) -> np.ndarray:
        """The network's raw (nh, nw) probability of ``frame`` (no smoothing, no refinement)."""
        self._downscale(frame)
        nh, nw = self._small.shape[:2]
        cv2.resize(self.quarter, (nw, nh), dst=self._small, interpolation=cv2.INTER_AREA)
        for c in range(3):  # HWC uint8 -> CHW float in [0, 1], written into the bound input
            cv2.multiply(self._small[:, :, c], 1.0 / 255.0, dst=self._input[0, c], dtype=cv2.CV_32F)
        self._run.run_with_iobinding(self._binding)
        self.raw = self._output[0, 0]
        return self.raw

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        fresh = self._size != (h, w) or self._count % self.config.network_every == 0 or not self._smoother.primed
        self._count += 1
        if not fresh:
            self._downscale(frame)
            fresh = cv2.norm(self.quarter, self._last_quarter, cv2.NORM_L1) > CHANGE_RERUN * self.quarter.size
        if fresh:
            raw = self.infer(frame)
            smooth = self._smoother.update(raw)
            np.copyto(self._last_quarter, self.quarter)
        else:  # between network runs: the last mask, refined on this frame's own edges
            smooth = self._smoother.state
        self.low = LowRes(self.quarter, smooth, fresh)
        h, w = self._size
        if self._guided is not None:
            if not self._refine_on_half:
                return self._guided(frame, smooth, self.quarter, self._smoother.gain)
            refined = self._guided(self._half, smooth, self.quarter, self._smoother.gain)
            self._flip ^= 1
            return cv2.resize(refined, (w, h), dst=self._plain[self._flip], interpolation=cv2.INTER_LINEAR)
        self._flip ^= 1
        return cv2.resize(smooth, (w, h), dst=self._plain[self._flip], interpolation=cv2.INTER_LINEAR)
