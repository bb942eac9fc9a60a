"""evalkit's metrics as ``torchmetrics.Metric`` classes, for training and validation loops (docs/torchmetrics.md).

Each adapter scores with the very metric ``evalkit.score`` uses (same preset, default ``clean``, same options)
and keeps evalkit's state as torch states that sync across ranks by summation or concatenation, so the numbers
equal evalkit's (tests/test_torchmetrics.py).
"""
from evalkit.torchmetrics.adapter import EvalkitMetric
from evalkit.torchmetrics.metrics import FVD, L1, LPIPS, PSNR, SSIM, BeatAlign

__all__ = ["EvalkitMetric", "SSIM", "PSNR", "L1", "LPIPS", "FVD", "BeatAlign"]
