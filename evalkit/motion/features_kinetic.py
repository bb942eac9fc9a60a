"""Bailando's 72-d kinetic features (``utils/features/kinetic.py`` + ``utils/features/utils.py``), vectorised.

Per joint, in joint order: horizontal kinetic energy, vertical kinetic energy, "energy expenditure".

* Velocity of frame i = 1..T−1: mean of the frame differences d_k, k ∈ [i−2, i+2] ∩ [1, T−1] (sliding
  window 2), divided by the fixed frame time 1/60 s whatever the data's rate (the reference's constant).
* Kinetic energies: mean over i of the squared norm of the horizontal (x, z) / vertical (y) velocity — no ½,
  no mass; y is up.
* Energy expenditure as the reference writes it, with its misplaced parenthesis:
  a_k = ((p_{k+1} − p_k)/ft − (p_k − p_{k−1}/ft))/ft for k ∈ [i−2, i+2] ∩ [1, T−2]; the feature is the mean
  over i of ‖mean of a_k‖. The misplaced parenthesis leaves a term ∝ p_k, so this number mostly measures
  the joint's distance from the first frame's root; we reproduce it because published FID_k does.
* All means over i divide by T−1; the vector is stored as float32 (what Bailando saves and compares).
"""
from __future__ import annotations

import numpy as np

FRAME_TIME = 1.0 / 60  # Bailando's KineticFeatures default
WINDOW = 2


def window_sum(x: np.ndarray, first: int, last: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """For i = 1..length−1, the sum of x[k] (indexed by k = first..last) over k ∈ [i−W, i+W] and the count."""
    full = np.zeros((length + 2 * WINDOW + 1,) + x.shape[1:])
    full[first + WINDOW:last + WINDOW + 1] = x  # full[k + W] = x_k; zeros outside [first, last]
    csum = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(full, axis=0)])
    i = np.arange(1, length)
    sums = csum[i + 2 * WINDOW + 1] - csum[i]  # covers k = i−W .. i+W
    counts = np.minimum(i + WINDOW, last) - np.maximum(i - WINDOW, first) + 1
    return sums, counts.astype(np.float64)


def kinetic_features(joints: np.ndarray, frame_time: float = FRAME_TIME) -> np.ndarray:
    """(T, J, 3) joints (y up, already relative to the first frame's root) → (3·J,) float32."""
    p = np.asarray(joints, dtype=np.float64)
    t = len(p)
    d = p[1:] - p[:-1]  # d_k for k = 1..T−1
    vsum, vcount = window_sum(d, 1, t - 1, t)
    vel = vsum / (vcount[:, None, None] * frame_time)
    horizontal = (vel[..., 0] ** 2 + vel[..., 2] ** 2).sum(axis=0) / (t - 1.0)
    vertical = (vel[..., 1] ** 2).sum(axis=0) / (t - 1.0)
    k = np.arange(1, t - 1)
    acc = ((p[k + 1] - p[k]) / frame_time - (p[k] - p[k - 1] / frame_time)) / frame_time  # sic, see docstring
    asum, acount = window_sum(acc, 1, t - 2, t)
    expenditure = np.linalg.norm(asum / acount[:, None, None], axis=-1).sum(axis=0) / (t - 1.0)
    return np.stack([horizontal, vertical, expenditure], axis=1).reshape(-1).astype(np.float32)
