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


def needs_audio(names) -> bool:
    """Whether any of these registered metrics declares audio among its inputs (``needs``)."""
    return any("audio" in metric_class(name).needs for name in names if name in REGISTRY)


def board_metrics() -> tuple[tuple[str, ...], list[str]]:
    """(the metrics ``run-model`` scores and the leaderboards show — classes declaring ``on_boards`` — in
    registry order, registered metrics whose module does not import here)."""
    have, lacking = [], []
    for name in REGISTRY:
        try:
            cls = metric_class(name)
        except ImportError:
            lacking.append(name)
            continue
        if cls.on_boards:
            have.append(name)
    return tuple(have), lacking


def build(name: str, preset: str | None = None, device: str = "cpu", runtime=None, **overrides):
    """Instantiate a metric; a preset a metric lacks falls back to its default only when preset is None.
    ``overrides`` (settings and runtime options, CLI strings or Python values) are checked and coerced to their
    declared types first (docs/options.md); ``runtime`` is the process's evalkit.runtime.Runtime."""
    cls = metric_class(name)
    return cls(preset=preset, device=device, runtime=runtime, **cls.check_options(overrides))
