"""Frame resizing exactly as the FVD reference implementations do it, and the I3D input scaling.

* ``tf1-bilinear`` — TF1 ``tf.image.resize_bilinear`` (align_corners=False, half_pixel_centers=False):
  source coordinate ``i * (in/out)`` in float32, no half-pixel offset, no antialiasing; the original FVD.
* ``pil-bicubic`` — Pillow bicubic on each channel as a float32 'F' image (no uint8 re-quantisation,
  no clipping of the overshoot), straight to 224x224; DisCo's resizer.
* ``shortside-crop`` — torch bilinear (align_corners=False, no antialias) of [0, 1] floats so the short
  side is 224 (long side rounded up), then a centre crop; JunyaoHu's common_metrics_on_video_quality.

:func:`prepare_frames` returns (T, 3, 224, 224) in [-1, 1] for I3D (a channels-last view), with each
reference's own order of operations for the scaling.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from evalkit.errors import EvalkitError

SIZE = 224
KERNELS = ("tf1-bilinear", "pil-bicubic", "shortside-crop")


def _legacy_axis(n_in: int, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lower/upper source indices and float32 lerp weights of TF1's legacy scaler along one axis."""
    scale = np.float32(n_in) / np.float32(n_out)  # TF: in / static_cast<float>(out), in float32
    src = np.arange(n_out, dtype=np.float32) * scale
    lower = np.floor(src)
    lerp = (src - lower).astype(np.float32)
    lo = np.clip(lower.astype(np.int64), 0, n_in - 1)
    hi = np.minimum(np.ceil(src).astype(np.int64), n_in - 1)
    as_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return as_t(lo), as_t(hi), as_t(lerp)


def resize_tf1_bilinear(x: torch.Tensor, size: tuple[int, int] = (SIZE, SIZE),
                        channels_last: bool = False) -> torch.Tensor:
    """(..., H, W) -> (..., h, w) float32 with TF1 legacy bilinear semantics (any device);
    ``channels_last``: (..., H, W, C) -> (..., h, w, C)."""
    x = x.float()
    hd, wd = (-3, -2) if channels_last else (-2, -1)
    y0, y1, yl = _legacy_axis(x.shape[hd], size[0], x.device)
    x0, x1, xl = _legacy_axis(x.shape[wd], size[1], x.device)
    if channels_last:
        xl, yl = xl[:, None], yl[:, None, None]
    else:
        yl = yl[:, None]
    # TF's compute_lerp: top = tl + (tr - tl) * xl, bottom likewise, out = top + (bottom - top) * yl.
    # Lerping every input row along x first gives exactly those `top`/`bottom` values (same float32
    # operations, bit for bit) at a fraction of the gathers.
    left, right = x.index_select(wd, x0), x.index_select(wd, x1)
    rows = left + (right - left) * xl
    top, bottom = rows.index_select(hd, y0), rows.index_select(hd, y1)
    return top + (bottom - top) * yl


def resize_pil_bicubic(frames: np.ndarray, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """uint8/float (T, H, W, C) -> float32 (T, C, h, w): Pillow bicubic per channel in 'F' mode."""
    from PIL import Image

    frames = np.asarray(frames)
    out = np.empty((frames.shape[0], frames.shape[3], size[0], size[1]), dtype=np.float32)
    for t in range(frames.shape[0]):
        for c in range(frames.shape[3]):
            img = Image.fromarray(np.ascontiguousarray(frames[t, :, :, c], dtype=np.float32))  # mode 'F'
            out[t, c] = np.asarray(img.resize((size[1], size[0]), Image.Resampling.BICUBIC))
    return out


def shortside_crop_size(h: int, w: int, size: int = SIZE) -> tuple[int, int]:
    """Resized (h, w) before the centre crop: the short side becomes ``size``, the long one is rounded up."""
    scale = size / min(h, w)
    return (size, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), size)


def resize_shortside_crop(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """(T, C, H, W) float -> (T, C, size, size): bilinear (align_corners=False) + centre crop."""
    th, tw = shortside_crop_size(x.shape[-2], x.shape[-1], size)
    x = F.interpolate(x.float(), size=(th, tw), mode="bilinear", align_corners=False)
    top, left = (th - size) // 2, (tw - size) // 2
    return x[..., top:top + size, left:left + size]


def prepare_frames(frames: np.ndarray | torch.Tensor, kernel: str, device="cpu", chunk: int = 32,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 RGB (T, H, W, 3) -> (T, 3, 224, 224) in [-1, 1] on ``device``, per reference.

    The values are computed in float32 and then cast to ``dtype``. The result is a channels-last view
    (memory laid out (T, H, W, 3)), which is how batches of clips reach cuDNN without a transpose.
    Frames are processed ``chunk`` at a time so a long, large video never exists as full-size floats."""
    if kernel not in KERNELS:
        raise EvalkitError(f"unknown resize kernel '{kernel}'", hint=f"choose one of: {', '.join(KERNELS)}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise EvalkitError(f"expected RGB frames (T, H, W, 3), got shape {tuple(frames.shape)}")
    parts = [_prepare_hwc(frames[i:i + chunk], kernel, device).to(dtype) for i in range(0, frames.shape[0], chunk)]
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out.permute(0, 3, 1, 2)


def _prepare_hwc(frames, kernel: str, device) -> torch.Tensor:
    """float32 (T, 224, 224, 3) in [-1, 1], each reference's own order of operations."""
    if kernel == "pil-bicubic":  # CPU by nature; DisCo scales with x/127.5 - 1
        arr = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else frames
        x = torch.from_numpy(resize_pil_bicubic(arr)).permute(0, 2, 3, 1).contiguous().to(device)
        return x / 127.5 - 1.0
    x = torch.as_tensor(frames).to(device, non_blocking=True)
    if kernel == "tf1-bilinear":  # G-FVD: resize the 0..255 values, then 2x/255 - 1
        return resize_tf1_bilinear(x, channels_last=True) * 2.0 / 255.0 - 1.0
    # JH: [0, 1] floats are resized, then (x - 0.5) * 2
    x = resize_shortside_crop(x.permute(0, 3, 1, 2).float() / 255.0)
    return ((x - 0.5) * 2.0).permute(0, 2, 3, 1).contiguous()
