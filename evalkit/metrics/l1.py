"""L1 per frame, averaged over frames.

Presets (docs/metric-spec-notes.md §2):
- ``clean``: mean |a − b| on [0, 1] (mean over H, W, C).
- ``disco`` / ``disco-v1``: DisCo's mean |a − b| on the 0–255 scale divided by H·W (so values ≈ 1e-4 and
  resolution dependent — what DisCo-family tables report).
"""
from __future__ import annotations

from evalkit.metrics.frame import FrameMetric, abs_diff

_DISCO = {"scale": 1.0, "divide_by_pixels": True}


class L1(FrameMetric):
    name = "l1"
    higher_is_better = False
    reference = "mean absolute error (clean) / DisCo ssim_l1_lpips_psnr.py formula (disco)"
    bytes_per_pixel = 32.0  # 30 measured (benchmarks/memory.py --per-pixel)
    on_boards = True
    drift_tolerance = (5e-4, 1e-3)
    presets = {
        "clean": {"scale": 1.0 / 255.0, "divide_by_pixels": False},
        "disco": _DISCO,
        "disco-v1": _DISCO,
    }

    def frame_values(self, pred, gt):
        s = self.settings
        d = abs_diff(pred, gt)
        mae = d.sum(dim=(1, 2, 3)).double() / d[0].numel() * s["scale"]  # exact integer (int64) sum, as numpy's
        if s["divide_by_pixels"]:
            mae = mae / (pred.shape[1] * pred.shape[2])
        return mae
