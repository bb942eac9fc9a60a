"""SSIM (Wang et al. 2004), batched in torch float64, with presets that reproduce published code.

Presets (docs/metric-spec-notes.md §2):
- ``clean``: per RGB channel, Gaussian 11×11 σ=1.5, population statistics, data range 255, mean over the
  valid region; equals skimage ``structural_similarity(channel_axis=-1, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)``.
- ``disco``: OpenCV RGB→grey uint8, then skimage defaults (uniform 7×7, sample covariance, data range 255).
- ``disco-v1``: same SSIM as ``disco``.
- ``jh``: per channel on [0, 1] floats, Gaussian 11 σ=1.5, C1=0.01², C2=0.03², 5-px crop (common_metrics_on_video_quality).
"""
from __future__ import annotations


import cv2
import numpy as np
import torch
import torch.nn.functional as F

from evalkit.metrics.frame import FrameMetric

_DISCO = {"grey": True, "gaussian": False, "win": 7, "sample_cov": True, "data_range": 255.0, "scale": 1.0}


def _taps(gaussian: bool, win: int, sigma: float) -> np.ndarray:
    if gaussian:  # scipy gaussian_filter with truncate=3.5, as skimage uses
        radius = int(3.5 * sigma + 0.5)
        x = np.arange(-radius, radius + 1, dtype=np.float64)
        k = np.exp(-0.5 * x * x / (sigma * sigma))
        return k / k.sum()
    return np.full(win, 1.0 / win)


def _filter_valid(x: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """Separable correlation over the last two dims, valid region only (= skimage's crop), in x's dtype.

    On CPU: one fused multiply-add per tap and axis over shifted views (float64, vectorised and threaded by
    torch, no im2col copies); on GPU: a grouped conv. The valid region never reads past the border, so
    skimage's reflect padding does not enter. The two are tested equal, and SSIM equal to scikit-image."""
    if x.device.type == "cpu":
        return filter_valid_shifts(x, taps)
    return filter_valid_conv(x, taps)


def filter_valid_shifts(x: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """The valid separable correlation as len(taps) shifted multiply-adds per axis (the CPU path)."""
    w = [float(t) for t in taps]
    k = len(w)
    out = x
    for dim in (-2, -1):
        n = out.shape[dim] - k + 1
        acc = out.narrow(dim, 0, n) * w[0]
        for i in range(1, k):
            acc.add_(out.narrow(dim, i, n), alpha=w[i])
        out = acc
    return out


def filter_valid_conv(x: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """The same valid separable correlation as a grouped torch conv (the GPU path)."""
    k = len(taps)
    c = x.shape[1]
    w = torch.as_tensor(taps, dtype=x.dtype, device=x.device)
    rows = F.conv2d(x, w.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(rows, w.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def ssim_map_mean(x: torch.Tensor, y: torch.Tensor, *, gaussian: bool, win: int = 7, sigma: float = 1.5,
                  sample_cov: bool, data_range: float, k1: float = 0.01, k2: float = 0.03,
                  scale: float = 1.0) -> torch.Tensor:
    """Mean SSIM over the valid region of (N, C, H, W) images (any dtype; computed in float64 after
    multiplying by ``scale``); returns (N,) = mean over channels.

    Four filtered maps instead of five: the SSIM denominator needs only σx² + σy², so x² + y² is filtered
    once. The maps are stored (H, W, C)-major, so that uint8 frames (N, H, W, C) convert without a transpose."""
    taps = _taps(gaussian, win, sigma)
    n_pixels = len(taps) ** 2
    cov_norm = n_pixels / (n_pixels - 1) if sample_cov else 1.0
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    n, c, h, w = x.shape
    maps = torch.empty((4, n, h, w, c), dtype=torch.float64, device=x.device).permute(0, 1, 4, 2, 3)
    mx, my, mss, mxy = maps.unbind(0)
    mx.copy_(x)
    my.copy_(y)
    if scale != 1.0:
        maps[:2].mul_(scale)
    torch.mul(mx, mx, out=mss).addcmul_(my, my)
    torch.mul(mx, my, out=mxy)
    ux, uy, uss, uxy = _filter_valid(maps.flatten(0, 1), taps).unflatten(0, (4, n)).unbind(0)
    uxuy, uxux_uyuy = ux * uy, ux * ux + uy * uy
    num = (2 * uxuy + c1) * (cov_norm * (2 * (uxy - uxuy)) + c2)
    den = (uxux_uyuy + c1) * (cov_norm * (uss - uxux_uyuy) + c2)
    return (num / den).mean(dim=(2, 3)).mean(dim=1)


def _grey(frames: torch.Tensor) -> torch.Tensor:
    """OpenCV's RGB→grey on uint8 (fixed-point, rounds), on a stack of frames at once."""
    arr = frames.cpu().numpy()
    n, h, w, _ = arr.shape
    grey = cv2.cvtColor(arr.reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(n, 1, h, w)
    return torch.from_numpy(grey).to(frames.device)


class SSIM(FrameMetric):
    name = "ssim"
    higher_is_better = True
    cpu_chunk = 1  # one frame's 12 float64 maps (6 MB at 256²) stay in cache through the 22 filter passes
    bytes_per_pixel = 400.0  # those float64 maps: 352 measured (benchmarks/memory.py --per-pixel)
    reference = "scikit-image structural_similarity (per preset settings)"
    on_boards = True
    drift_tolerance = (5e-4, 0.0)
    presets = {
        "clean": {"grey": False, "gaussian": True, "win": 11, "sample_cov": False, "data_range": 255.0, "scale": 1.0},
        "disco": _DISCO,
        "disco-v1": _DISCO,
        "jh": {"grey": False, "gaussian": True, "win": 11, "sample_cov": False, "data_range": 1.0,
               "scale": 1.0 / 255.0},
    }

    def min_frame_size(self) -> int:
        return int(self.settings["win"])  # the window must fit: smaller frames give an empty map (NaN)

    def frame_values(self, pred, gt):
        s = self.settings
        if s["grey"]:
            x, y = _grey(pred), _grey(gt)
        else:
            x, y = pred.permute(0, 3, 1, 2), gt.permute(0, 3, 1, 2)  # uint8 views; float64 per frame inside
        return ssim_map_mean(x, y, gaussian=s["gaussian"], win=s["win"], sample_cov=s["sample_cov"],
                             data_range=s["data_range"], scale=s["scale"])
