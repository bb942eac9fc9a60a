"""SSIM (Wang et al. 2004), batched in torch float64, with presets that reproduce published code.

Presets (metric-spec §2):
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
    """Separable correlation over the last two dims, valid region only (= skimage's crop).

    On CPU this runs scipy's C line filter on the whole batch (the same primitive skimage uses, about 4×
    faster than torch's float64 conv on CPU); on GPU a grouped torch conv. Both are tested equal."""
    k = len(taps)
    r = k // 2
    if x.device.type == "cpu":
        from scipy.ndimage import correlate1d

        arr = x.numpy()
        arr = correlate1d(arr, taps, axis=-2, mode="reflect")[..., r:arr.shape[-2] - r, :]
        arr = correlate1d(arr, taps, axis=-1, mode="reflect")[..., r:arr.shape[-1] - r]
        return torch.from_numpy(np.ascontiguousarray(arr))
    return filter_valid_conv(x, taps)


def filter_valid_conv(x: torch.Tensor, taps: np.ndarray) -> torch.Tensor:
    """The same valid separable correlation as a grouped torch conv (the GPU path)."""
    k = len(taps)
    c = x.shape[1]
    w = torch.as_tensor(taps, dtype=x.dtype, device=x.device)
    rows = F.conv2d(x, w.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(rows, w.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def ssim_map_mean(x: torch.Tensor, y: torch.Tensor, *, gaussian: bool, win: int = 7, sigma: float = 1.5,
                  sample_cov: bool, data_range: float, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM over the valid region for float64 tensors (N, C, H, W); returns (N,) = mean over channels."""
    taps = _taps(gaussian, win, sigma)
    n_pixels = len(taps) ** 2
    cov_norm = n_pixels / (n_pixels - 1) if sample_cov else 1.0
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    ux, uy, uxx, uyy, uxy = _filter_valid(stacked, taps).chunk(5, dim=1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(2, 3)).mean(dim=1)


def _grey(frames: torch.Tensor) -> torch.Tensor:
    """OpenCV's RGB→grey on uint8 (fixed-point, rounds), on a stack of frames at once."""
    arr = frames.cpu().numpy()
    n, h, w, _ = arr.shape
    grey = cv2.cvtColor(arr.reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(n, 1, h, w)
    return torch.from_numpy(grey).to(frames.device)


class SSIM(FrameMetric):
    name = "ssim"
    higher_is_better = True
    reference = "scikit-image structural_similarity (per preset settings)"
    presets = {
        "clean": {"grey": False, "gaussian": True, "win": 11, "sample_cov": False, "data_range": 255.0, "scale": 1.0},
        "disco": _DISCO,
        "disco-v1": _DISCO,
        "jh": {"grey": False, "gaussian": True, "win": 11, "sample_cov": False, "data_range": 1.0,
               "scale": 1.0 / 255.0},
    }

    def frame_values(self, pred, gt):
        s = self.settings
        if s["grey"]:
            x, y = _grey(pred).double(), _grey(gt).double()
        else:
            x = pred.permute(0, 3, 1, 2).double() * s["scale"]
            y = gt.permute(0, 3, 1, 2).double() * s["scale"]
        return ssim_map_mean(x, y, gaussian=s["gaussian"], win=s["win"], sample_cov=s["sample_cov"],
                             data_range=s["data_range"])


