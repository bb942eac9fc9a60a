"""PSNR per frame in float64, averaged over frames (not the PSNR of pooled MSE).

Presets (docs/metric-spec-notes.md §2):
- ``clean``: 10·log10(255²/MSE) on 0–255 (skimage ``peak_signal_noise_ratio(data_range=255)``), MSE over H,W,C.
- ``disco``: 20·log10(255/√MSE) in float64 (DisCo since 2024-04-10).
- ``disco-v1``: DisCo v1 / MagicAnimate / Champ "PSNR*": MSE computed on uint8 arrays, so the difference and
  its square wrap modulo 256 — reproduced bit-exactly and labelled as such.
- ``jh``: 20·log10(1/√MSE) on [0, 1].
An MSE of 0 (identical frames) gives the cap of 100 dB in every preset (DisCo and JH do this; skimage would
give inf); capped frames are counted in the results.
"""
from __future__ import annotations

import torch

from evalkit.metrics.frame import FrameMetric, abs_diff

CAP_DB = 100.0


def frame_mse(pred: torch.Tensor, gt: torch.Tensor, *, wrap_uint8: bool = False, scale: float = 1.0) -> torch.Tensor:
    """(N,) MSE over H, W, C of uint8 frames (N,H,W,3); wrap_uint8 reproduces numpy uint8 arithmetic.

    The squared differences are summed exactly in integers, so the MSE equals numpy's float64 mean (whose
    partial sums of integers are exact too) to the last bit."""
    if wrap_uint8:
        diff = pred - gt  # uint8 tensors wrap modulo 256 like numpy
        return (diff * diff).double().mean(dim=(1, 2, 3))
    d = abs_diff(pred, gt).to(torch.int32)
    sse = (d * d).sum(dim=(1, 2, 3))  # int64
    return sse.double() / d[0].numel() * (scale * scale)


class PSNR(FrameMetric):
    name = "psnr"
    higher_is_better = True
    reference = "scikit-image peak_signal_noise_ratio / DisCo formulas (per preset)"
    bytes_per_pixel = 64.0  # 54 measured (benchmarks/memory.py --per-pixel)
    on_boards = True
    drift_tolerance = (0.01, 0.0)
    presets = {
        "clean": {"formula": "10log", "peak": 255.0, "scale": 1.0, "wrap_uint8": False, "cap_below": 0.0},
        "disco": {"formula": "20log", "peak": 255.0, "scale": 1.0, "wrap_uint8": False, "cap_below": 0.0},
        "disco-v1": {"formula": "20log", "peak": 255.0, "scale": 1.0, "wrap_uint8": True, "cap_below": 0.0},
        "jh": {"formula": "20log", "peak": 1.0, "scale": 1.0 / 255.0, "wrap_uint8": False, "cap_below": 1e-10},
    }

    def frame_values(self, pred, gt):
        s = self.settings
        mse = frame_mse(pred, gt, wrap_uint8=s["wrap_uint8"], scale=s["scale"])
        if s["formula"] == "10log":
            value = 10.0 * torch.log10(s["peak"] ** 2 / mse)
        else:
            value = 20.0 * torch.log10(s["peak"] / torch.sqrt(mse))
        capped = (mse == 0) | (mse < s["cap_below"])
        self._state["capped"] += float(capped.sum())
        return torch.where(capped, torch.full_like(value, CAP_DB), value)
