"""One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), vectorised over any number of points.

A first-order low-pass filter whose cutoff rises with the signal's speed: when a point is still the
cutoff is ``min_cutoff`` (strong smoothing, so the aligned face crop does not jitter); when it moves
the cutoff grows by ``beta * speed``, so fast head moves are followed with little lag. The speed is
itself low-passed (cutoff ``d_cutoff``) so that jitter does not open the filter.

Arrays of shape (..., D) are filtered element-wise; the speed that drives the cutoff is the norm over
the last axis (one cutoff per point, shared by its x and y). ``scale`` divides the speed, so with
``scale`` = the face size, ``beta`` is in "face sizes per second" and one setting fits near and far
faces alike (MediaPipe's landmark smoother does the same with its object-scale option).
"""

from __future__ import annotations

import math

import numpy as np


class OneEuroFilter:
    """Stateful One-Euro filter over arrays of a fixed shape.

    Parameters:
        min_cutoff: cutoff frequency (Hz) when the signal is still; lower = smoother, more lag.
        beta: speed coefficient; higher = less lag on fast moves (and less smoothing while moving).
        d_cutoff: cutoff (Hz) of the low-pass on the derivative.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
            raise ValueError("One-Euro cutoffs must be positive and beta non-negative")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self._x: np.ndarray | None = None  # filtered value (float64 state)
        self._dx: np.ndarray | None = None  # filtered derivative
        self._t = 0.0
        self._tmp: np.ndarray | None = None  # scratch, same shape as the state (no per-call allocations)

    def reset(self) -> None:
        """Forget the state; the next sample passes through unfiltered."""
        self._x = self._dx = self._tmp = None

    @property
    def initialised(self) -> bool:
        return self._x is not None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        # smoothing factor of an exponential filter with this cutoff at sample period dt
        return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filter one sample ``x`` taken at time ``t`` (seconds). Returns a new float32 array.

        A sample with a new shape restarts the filter. A sample whose time is not after the previous
        one (a repeated frame) returns the current estimate unchanged.
        """
        x = np.asarray(x)
        if self._x is None or self._x.shape != x.shape:
            self._x = x.astype(np.float64, copy=True)
            self._dx = np.zeros_like(self._x)
            self._tmp = np.empty_like(self._x)
            self._t = float(t)
            return self._x.astype(np.float32)
        dt = float(t) - self._t
        if dt <= 0.0:
            return self._x.astype(np.float32)
        self._t = float(t)
        assert self._dx is not None and self._tmp is not None
        # derivative estimate, low-passed at d_cutoff:  dx += a_d * ((x - x_prev) / dt - dx)
        tmp = self._tmp
        np.subtract(x, self._x, out=tmp)
        tmp /= dt
        tmp -= self._dx
        tmp *= self._alpha(self.d_cutoff, dt)
        self._dx += tmp
        # per-point speed drives the cutoff (norm over the coordinate axis)
        if x.ndim >= 1 and x.shape[-1] > 1:
            speed = np.sqrt(np.einsum("...i,...i->...", self._dx, self._dx))[..., None]
        else:
            speed = np.abs(self._dx)
        if scale != 1.0:
            speed /= max(float(scale), 1e-9)
        a = self._alpha(self.min_cutoff + self.beta * speed, dt)
        # x_hat += a * (x - x_hat)
        np.subtract(x, self._x, out=tmp)
        tmp *= a
        self._x += tmp
        return self._x.astype(np.float32)
