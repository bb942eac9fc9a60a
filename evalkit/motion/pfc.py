"""EDGE's Physical Foot Contact score (``eval/eval_pfc.py``): low when the root accelerates only while a foot
of each side stands still.

Per sequence, z up (EDGE's axes; y-up input is turned +90° about x first, as EDGE does to AIST++): root
acceleration = second difference of joint 0 with its vertical part clamped at ≥ 0 (falling is free), its
norm divided by its own maximum (so the frame time cancels; a root of constant velocity divides by zero:
an error here). Foot speed = horizontal displacement of the left ankle/foot (7, 10) and right ankle/foot
(8, 11) from frame t+1 to t+2, metres per frame. Score = mean over t of min(left) · min(right) · acc;
PFC = 10⁴ × the mean over sequences. The foot speed is per frame, so PFC depends on the frame rate
(~(1/fps)²): EDGE's code assumes 30 fps, and evalkit brings a motion whose rate is a multiple of 30 to 30
fps by EDGE's own stride subsampling (60 → frames 0, 2, 4, …) before scoring.
"""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError

EDGE_FPS = 30
SCALE = 1e4
FEET = (7, 10, 8, 11)  # l_ankle, l_foot, r_ankle, r_foot


def to_edge_axes(joints: np.ndarray) -> np.ndarray:
    """y up → z up: (x, y, z) → (x, −z, y)."""
    return np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)


def stride_for(fps: float) -> int:
    stride = fps / EDGE_FPS
    if fps <= 0 or abs(stride - round(stride)) > 1e-9 or round(stride) < 1:
        raise EvalkitError(f"PFC is defined at EDGE's {EDGE_FPS} fps; {fps:g} fps is not a multiple of it",
                           hint="resample the motions to 30 (or 60, 90, …) fps, or pass the right --fps")
    return int(round(stride))


def pfc_sequence(joints: np.ndarray, name: str = "motion") -> float:
    """EDGE's per-sequence foot-contact score (not yet ×10⁴) of z-up joints (T, 24, 3) at 30 fps."""
    p = np.asarray(joints, dtype=np.float64)
    if len(p) < 3:
        raise EvalkitError(f"{name}: PFC needs at least 3 frames at {EDGE_FPS} fps, got {len(p)}")
    root_a = np.diff(p[:, 0], n=2, axis=0)  # the frame time cancels in the normalisation below
    root_a[:, 2] = np.maximum(root_a[:, 2], 0)
    root_a = np.linalg.norm(root_a, axis=-1)
    peak = root_a.max()
    if peak <= 0:
        raise EvalkitError(f"{name}: the root never accelerates (constant velocity); EDGE's PFC divides by zero",
                           hint="PFC is undefined for such a motion; leave it out of the set")
    feet = p[:, FEET, :2]
    speed = np.linalg.norm(feet[2:] - feet[1:-1], axis=-1)
    left, right = np.minimum(speed[:, 0], speed[:, 1]), np.minimum(speed[:, 2], speed[:, 3])
    return float((left * right * (root_a / peak)).mean())
