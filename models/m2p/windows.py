"""Frame ranges of long-video sampling: the denoiser's overlapping windows and the sampler's segments.

Their own module because both the sampler (infer.py) and keypoint guidance (keypoint_guidance.py, which the
sampler calls) tile frames the same way; kept here neither imports the other for it.
"""
from __future__ import annotations


def windows(length: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) windows covering ``length`` frames; stride window − overlap, last one ends at ``length``."""
    if length <= window:
        return [(0, length)]
    stride = window - overlap
    out = [(s, s + window) for s in range(0, length - window + 1, stride)]
    if out[-1][1] < length:
        out.append((length - window, length))
    return out


def segments(total: int, seg: int, carry: int) -> list[tuple[int, int]]:
    """[start, end) segments; each after the first starts ``carry`` frames before the previous end."""
    out, a = [], 0
    while True:
        b = min(a + seg, total)
        out.append((a, b))
        if b >= total:
            return out
        a = b - carry
