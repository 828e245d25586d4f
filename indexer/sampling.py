"""Which frames to look at: a fixed-rate plan, thinned by scene change. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vidseek.core.settings import Settings


@dataclass(frozen=True)
class SamplingOptions:
    rate: float  # frames per second
    scene_threshold: float  # mean absolute pixel change, 0..1
    max_static_gap: float  # seconds
    # Largest change of one cell (1/16 of the width and height) that still repeats the last
    # kept frame; 1.0 never fires. Lowered when on-screen text is read: a caption appearing on
    # an unchanged picture moves the mean far less than scene_threshold.
    local_threshold: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SamplingOptions:
        """The configured sampling; the local threshold is the frame stages' to lower."""
        return cls(settings.frame_rate, settings.scene_threshold, settings.max_static_gap)


def sample_times(duration: float, rate: float) -> np.ndarray:
    """Evenly spaced sample times in [0, duration), `rate` per second; at least one."""
    if rate <= 0:
        raise ValueError("frame rate must be positive")
    n = max(1, int(np.ceil(duration * rate - 1e-9)))
    return np.arange(n, dtype=np.float64) / rate


def frame_signature(frame: np.ndarray, size: int = 16) -> np.ndarray:
    """A tiny blurred copy of an RGB frame, 0..1, for cheap change detection."""
    h, w = frame.shape[:2]
    ys = np.linspace(0, h, size + 1, dtype=int)
    xs = np.linspace(0, w, size + 1, dtype=int)
    cells = np.add.reduceat(np.add.reduceat(frame.astype(np.float32), ys[:-1], axis=0),
                            xs[:-1], axis=1)
    counts = np.outer(np.diff(ys), np.diff(xs))[..., None]
    return cells / counts / 255.0


class SceneFilter:
    """Keeps a sampled frame only when it differs from the last kept one, or too long has
    passed, so static footage costs one embedding per `max_static_gap` seconds."""

    def __init__(self, options: SamplingOptions):
        self.options = options
        self._last_sig: np.ndarray | None = None
        self._last_t = -np.inf

    def keep(self, t: float, frame: np.ndarray) -> bool:
        sig = frame_signature(frame)
        change = None if self._last_sig is None else np.abs(sig - self._last_sig)
        changed = (change is None
                   or float(change.mean()) > self.options.scene_threshold
                   or float(change.max()) > self.options.local_threshold
                   or t - self._last_t >= self.options.max_static_gap)
        if changed:
            self._last_sig, self._last_t = sig, t
        return changed


def frame_spans(kept_times: list[float], duration: float) -> list[tuple[float, float]]:
    """Each kept frame stands for the video from its time until the next kept frame."""
    ends = list(kept_times[1:]) + [max(duration, kept_times[-1] if kept_times else 0.0)]
    return [(t0, max(t0, t1)) for t0, t1 in zip(kept_times, ends)]
