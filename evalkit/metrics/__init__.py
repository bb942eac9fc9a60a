"""Metric registry: name -> 'module:Class', imported lazily so unused metrics cost nothing."""
from __future__ import annotations

import importlib

from evalkit.errors import EvalkitError

REGISTRY: dict[str, str] = {
    "ssim": "evalkit.metrics.ssim:SSIM",
    "psnr": "evalkit.metrics.psnr:PSNR",
    "l1": "evalkit.metrics.l1:L1",
    "lpips": "evalkit.metrics.lpips:LPIPS",
    "fvd": "evalkit.metrics.fvd:FVD",
    "kvd": "evalkit.metrics.kvd:KVD",
    "beat_align": "evalkit.metrics.beat_align:BeatAlign",
    "av_align": "evalkit.metrics.av_align:AVAlign",
    "fid": "evalkit.metrics.fid:FID",
    "fid_k2d": "evalkit.metrics.motion2d:FIDK2D",
    "fid_g2d": "evalkit.metrics.motion2d:FIDG2D",
    "div_k2d": "evalkit.metrics.motion2d:DivK2D",
    # registry entries of further metrics go above this line
}

DEFAULT_METRICS = ("ssim", "psnr", "l1", "lpips")


def metric_class(name: str):
    if name not in REGISTRY:
        raise EvalkitError(f"unknown metric '{name}'", hint=f"choose from: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build(name: str, preset: str | None = None, device: str = "cpu", **overrides):
    """Instantiate a metric; a preset a metric lacks falls back to its default only when preset is None."""
    return metric_class(name)(preset=preset, device=device, **overrides)
