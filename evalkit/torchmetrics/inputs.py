"""What the torchmetrics adapters accept, turned into what evalkit's metrics score.

evalkit scores uint8 RGB frames (T, H, W, 3) as it decodes them. torchmetrics users pass float images
(T, 3, H, W) in [0, 1]; those are quantised as ``round(x · 255)`` (in float64, ties to even), so a frame that
came from uint8 as ``k / 255`` (float32 or float64) gives back exactly ``k`` and every number equals evalkit's.
A 4-D tensor is one video; a 5-D tensor (B, T, …) is a batch of B videos, each scored as its own video.
"""
from __future__ import annotations

import numpy as np
import torch

from evalkit.errors import EvalkitError

_LAYOUTS = "uint8 (T, H, W, 3) / (B, T, H, W, 3), or float (T, 3, H, W) / (B, T, 3, H, W) in [0, 1]"


def _as_tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, torch.Tensor):
        return x.detach()
    raise EvalkitError(f"{what}: expected a torch tensor or numpy array, got {type(x).__name__}", hint=_LAYOUTS)


def to_uint8_videos(x, what: str = "pred") -> list[np.ndarray]:
    """One video (4-D) or a batch (5-D) as a list of uint8 (T, H, W, 3) numpy arrays (evalkit's decoded form)."""
    t = _as_tensor(x, what)
    if t.ndim not in (4, 5):
        raise EvalkitError(f"{what}: {t.ndim}-D input of shape {tuple(t.shape)}", hint=f"pass {_LAYOUTS}")
    if t.shape[-4] == 0:  # evalkit refuses a video without frames (it would average over nothing)
        raise EvalkitError(f"{what}: a video with zero frames (shape {tuple(t.shape)})", hint="pass at least one frame")
    videos = list(t) if t.ndim == 5 else [t]
    if t.dtype == torch.uint8:
        if t.shape[-1] != 3:
            raise EvalkitError(f"{what}: uint8 frames of shape {tuple(t.shape)} are not channels-last RGB",
                               hint="pass uint8 as (T, H, W, 3) like evalkit decodes, or float as (T, 3, H, W)")
        return [np.ascontiguousarray(v.cpu().numpy()) for v in videos]
    if not t.is_floating_point():
        raise EvalkitError(f"{what}: frames of dtype {t.dtype}", hint=f"pass {_LAYOUTS}")
    if t.shape[-3] != 3:
        raise EvalkitError(f"{what}: float frames of shape {tuple(t.shape)} are not channels-first RGB",
                           hint="pass float as (T, 3, H, W) in [0, 1], or uint8 as (T, H, W, 3)")
    x64 = t.to("cpu", torch.float64)
    if not torch.isfinite(x64).all() or x64.min() < 0 or x64.max() > 1:
        raise EvalkitError(f"{what}: float frames outside [0, 1] (min {float(x64.min()):.4g}, max "
                           f"{float(x64.max()):.4g})", hint="map them to [0, 1] first, e.g. x.clamp(0, 1)")
    # why round(x·255): evalkit's metrics are defined on the uint8 frames a decoder gives; k/255 maps back to k
    q = torch.round(x64 * 255.0).to(torch.uint8)
    frames = q.permute(0, 1, 3, 4, 2) if q.ndim == 5 else q.permute(0, 2, 3, 1)
    return [np.ascontiguousarray(v.numpy()) for v in (list(frames) if q.ndim == 5 else [frames])]


def per_video(value, count: int, what: str) -> list:
    """A per-video argument: one value for every video, or a sequence of ``count`` values."""
    if isinstance(value, (list, tuple)) or (isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim >= 1):
        if len(value) != count:
            raise EvalkitError(f"{what}: {len(value)} value(s) for {count} video(s)", hint="give one per video")
        return list(value)
    return [value] * count


def to_waveforms(audio, count: int) -> list[np.ndarray]:
    """Music per video as float32 (n,) or (channels, n) numpy, as evalkit decodes it: for one video a
    waveform; for a batch of B videos a sequence of B waveforms (or a (B, n) / (B, C, n) tensor)."""
    items = list(audio) if count > 1 or isinstance(audio, (list, tuple)) else [audio]
    if len(items) != count:
        raise EvalkitError(f"audio: {len(items)} waveform(s) for {count} video(s)", hint="give one per video")
    out = []
    for wave in items:
        t = _as_tensor(wave, "audio")
        if not t.is_floating_point() or t.ndim not in (1, 2):
            raise EvalkitError(f"audio: a {t.ndim}-D {t.dtype} waveform",
                               hint="pass float samples (n,) or (channels, n); int16 PCM divided by 32768")
        if not torch.isfinite(t).all():
            raise EvalkitError("audio: waveform holds NaN or inf", hint="pass finite float samples")
        out.append(np.ascontiguousarray(t.to("cpu", torch.float32).numpy()))
    return out
