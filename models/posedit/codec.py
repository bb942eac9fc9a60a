"""Pose ↔ 17-channel keypoint image: one channel per COCO-17 joint holding a Gaussian splat.

Coordinates live on a square *canvas* placed on the frame from the reference pose (centre: the reference
mid-hip, side: ``canvas_torsos`` reference torso lengths), so the same model serves any frame size and the
image always shows the dancer at one scale. Unit coordinates u ∈ [0, 1]² span the canvas; image pixel i
covers [i, i+1)/S, so pixel centres sit at (i + 0.5)/S.

Decoding takes the argmax of each channel, then the soft-argmax (intensity-weighted mean position) of the
non-negative values in a (2r+1)² window around it, r = ⌈3σ⌉. Its confidence is min(1, window mass / a full
splat's mass 2πσ²) × (window mass / the channel's whole non-negative mass): ~1 for one clean splat, ~0 for
an empty channel and low for a channel whose mass is spread out (no single peak).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from evalkit.errors import EvalkitError

L_SH, R_SH, L_HIP, R_HIP = 5, 6, 11, 12
#: COCO-17 index of each joint's mirror image (left ↔ right)
FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


@dataclass(frozen=True)
class Canvas:
    """Square region of the frame (pixels) that the keypoint image covers."""

    x0: float
    y0: float
    side: float

    @classmethod
    def from_reference(cls, keypoints: np.ndarray, torsos: float) -> "Canvas":
        """Centred on the reference mid-hip, ``torsos`` torso lengths (mid-shoulder to mid-hip) wide."""
        kp = np.asarray(keypoints, dtype=np.float64)[:, :2]
        if kp.shape != (17, 2) or not np.isfinite(kp[[L_SH, R_SH, L_HIP, R_HIP]]).all():
            raise EvalkitError("the reference pose needs finite shoulders and hips (COCO-17, 17×2)",
                               hint="give a reference image showing the dancer's whole body")
        hip = (kp[L_HIP] + kp[R_HIP]) / 2
        torso = float(np.linalg.norm((kp[L_SH] + kp[R_SH]) / 2 - hip))
        if torso <= 1e-6:
            raise EvalkitError("the reference pose has zero torso length (shoulders on the hips)")
        side = torsos * torso
        return cls(float(hip[0] - side / 2), float(hip[1] - side / 2), side)

    def to_unit(self, xy):
        return (xy - np.array([self.x0, self.y0])) / self.side

    def to_pixels(self, unit):
        return unit * self.side + np.array([self.x0, self.y0])


def flip_unit(unit: torch.Tensor, valid: torch.Tensor | None = None):
    """Mirror poses (..., 17, 2) about the canvas' vertical centre line, swapping left and right joints."""
    idx = torch.tensor(FLIP, device=unit.device)
    out = unit.index_select(-2, idx).clone()
    out[..., 0] = 1.0 - out[..., 0]
    return out if valid is None else (out, valid.index_select(-1, idx))


def clip_unit(unit: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Valid joints outside the canvas moved onto its border; returns the poses and how many were moved."""
    outside = valid & ((unit < 0) | (unit > 1)).any(-1)
    return unit.clamp(0.0, 1.0), int(outside.sum())


def encode(unit: torch.Tensor, valid: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Poses (..., 17, 2) in unit canvas coordinates → keypoint images (..., 17, size, size) in [0, 1]
    (peak 1 at the joint; all-zero channel where ``valid`` is False)."""
    if unit.shape[-2:] != (17, 2):
        raise EvalkitError(f"poses must be (..., 17, 2), got {tuple(unit.shape)}")
    grid = torch.arange(size, device=unit.device, dtype=torch.float32)
    g = unit.float() * size - 0.5  # image-pixel coordinates (pixel centres at integers)
    g = torch.nan_to_num(g, nan=-1e4)
    gx = torch.exp(-((grid - g[..., 0:1]) ** 2) / (2 * sigma ** 2))  # (..., 17, S)
    gy = torch.exp(-((grid - g[..., 1:2]) ** 2) / (2 * sigma ** 2))
    maps = gy[..., :, None] * gx[..., None, :]
    return maps * valid[..., None, None].to(maps.dtype)


def decode(maps: torch.Tensor, sigma: float, radius: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoint images (..., 17, S, S) → (unit coordinates (..., 17, 2), confidence (..., 17))."""
    *lead, k, h, w = maps.shape
    r = radius if radius is not None else int(math.ceil(3 * sigma))
    x = maps.reshape(-1, h, w).float()
    flat = x.flatten(1).argmax(1)
    iy, ix = flat // w, flat % w
    offs = torch.arange(-r, r + 1, device=x.device)
    ys = iy[:, None] + offs  # (N, 2r+1)
    xs = ix[:, None] + offs
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    rows = ys.clamp(0, h - 1)[:, :, None].expand(-1, -1, 2 * r + 1)
    cols = xs.clamp(0, w - 1)[:, None, :].expand(-1, 2 * r + 1, -1)
    n = torch.arange(x.shape[0], device=x.device)[:, None, None]
    win = x[n, rows, cols].clamp_min(0) * inside  # (N, 2r+1, 2r+1)
    mass = win.sum((1, 2))
    safe = mass.clamp_min(1e-12)
    cy = (win.sum(2) * ys.float()).sum(1) / safe
    cx = (win.sum(1) * xs.float()).sum(1) / safe
    unit = torch.stack([(cx + 0.5) / w, (cy + 0.5) / h], dim=-1)
    total = x.clamp_min(0).flatten(1).sum(1).clamp_min(1e-12)
    conf = (mass / (2 * math.pi * sigma ** 2)).clamp(0, 1) * (mass / total).clamp(0, 1)
    return unit.reshape(*lead, k, 2), conf.reshape(*lead, k)


def encode_pixels(joints: np.ndarray, canvas: Canvas, size: int, sigma: float,
                  conf_thresh: float = 0.0) -> tuple[np.ndarray, int]:
    """(T, 17, 2|3) frame pixels → (T, 17, S, S) float32 images; joints with conf ≤ ``conf_thresh`` or NaN are
    left out (zero channel). Returns the images and the number of joints clipped to the canvas border."""
    kp = np.asarray(joints, dtype=np.float64)
    valid = np.isfinite(kp[..., :2]).all(-1)
    if kp.shape[-1] == 3:
        valid &= np.nan_to_num(kp[..., 2]) > conf_thresh
    unit, clipped = clip_unit(torch.from_numpy(canvas.to_unit(kp[..., :2])), torch.from_numpy(valid))
    return encode(unit, torch.from_numpy(valid), size, sigma).numpy(), clipped


def decode_pixels(maps, canvas: Canvas, sigma: float) -> np.ndarray:
    """(T, 17, S, S) images → (T, 17, 3) frame pixels (x, y, confidence)."""
    unit, conf = decode(torch.as_tensor(maps), sigma)
    xy = canvas.to_pixels(unit.double().cpu().numpy())
    return np.concatenate([xy, conf.double().cpu().numpy()[..., None]], axis=-1)
