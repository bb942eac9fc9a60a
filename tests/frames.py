"""Small frame fixtures shared by the metric parity tests."""
from __future__ import annotations

import numpy as np


def random_pair(seed: int, n: int = 3, h: int = 48, w: int = 64, noise: float = 20.0):
    """A seeded random uint8 video and a noisy copy (so metrics are neither 0 nor saturated)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(np.float64) + rng.normal(0, noise, a.shape), 0, 255).round().astype(np.uint8)
    return a, b


def real_pair(shared, n: int = 3, size: int | None = 96):
    """Frames 0..n-1 vs 10..10+n-1 of a real dance clip, optionally centre-cropped to size×size."""
    from evalkit.io.video import decode_video

    frames = decode_video(shared / "data" / "wild" / "animatex_dance_2.mp4").frames
    a, b = frames[:n], frames[10:10 + n]
    if size:
        h, w = a.shape[1:3]
        y, x = (h - size) // 2, (w - size) // 2
        a, b = a[:, y:y + size, x:x + size], b[:, y:y + size, x:x + size]
    return np.ascontiguousarray(a), np.ascontiguousarray(b)
