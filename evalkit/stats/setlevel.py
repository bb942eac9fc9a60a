"""Paired bootstrap of a set-level metric (FVD, KVD) over videos: the same resampled videos in both runs.

A replicate draws n of the videos both runs scored, with replacement, and recomputes the metric on each
run's clip features of exactly those videos (prediction side) against their ground-truth clips; the
replicate difference is B − A. Because both runs see the same videos, most of the video-to-video spread
cancels in the difference.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

RESAMPLES = 500  # each replicate recomputes two set-level metrics (a 400-d FD takes ~20 ms)

# per video: (pred clip features (k, D), gt clip features (k', D))
VideoFeatures = tuple[np.ndarray, np.ndarray]


def stack(videos: list[VideoFeatures], idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clip features of the videos ``idx`` (with repeats), pred and gt stacked."""
    return (np.concatenate([videos[i][0] for i in idx]), np.concatenate([videos[i][1] for i in idx]))


def paired_replicates(statistic: Callable[[np.ndarray, np.ndarray], float], a: list[VideoFeatures],
                      b: list[VideoFeatures], resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples,) replicate differences statistic(B) − statistic(A) over the same resampled videos."""
    if len(a) != len(b):
        raise ValueError("the two runs must hold the same (matched) videos")
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for r in range(resamples):
        idx = rng.integers(0, len(a), size=len(a))
        out[r] = statistic(*stack(b, idx)) - statistic(*stack(a, idx))
    return out
