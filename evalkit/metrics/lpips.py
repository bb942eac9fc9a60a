"""LPIPS v0.1 (Zhang et al. 2018), batched, float32 like the reference ``lpips`` package.

Presets (docs/metric-spec-notes.md §3):
- ``clean``: AlexNet, input mapped to [-1, 1], spatial mean of each layer (``lpips.LPIPS(net='alex')``).
- ``disco`` / ``disco-v1``: VGG16 fed [0, 1] without mapping to [-1, 1] — DisCo's range bug, reproduced
  and labelled as such (values are not comparable with correctly normalised LPIPS).
- ``jh``: AlexNet, [-1, 1], mean of the bilinearly upsampled spatial map (``spatial=True``).
"""
from __future__ import annotations

import torch

from evalkit.features.lpips_net import LPIPSNet, min_input_size
from evalkit.metrics.frame import FrameMetric
from evalkit.options import Spec

_DISCO = {"net": "vgg", "input_range": "[0,1] (DisCo range bug)", "spatial": False}
_NETS: dict[tuple, LPIPSNet] = {}


def lpips_net(net: str, device: str, weights=None) -> LPIPSNet:
    """One network per (net, device, weights) per process."""
    key = (net, str(device), str(weights))
    if key not in _NETS:
        _NETS[key] = LPIPSNet(net, weights).to(device)
    return _NETS[key]


def to_input(frames: torch.Tensor, input_range: str) -> torch.Tensor:
    """uint8 (N,H,W,3) → float32 (N,3,H,W) in the preset's input range."""
    x = frames.permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0 if input_range == "[-1,1]" else x / 255.0


class LPIPS(FrameMetric):
    name = "lpips"
    higher_is_better = False
    cpu_chunk = 8  # 16 images a trunk pass: the fastest on a 2-core CPU (4 frames: ~5 % slower, 32: ~20 %)
    reference = "lpips 0.1.4 LPIPS(version='0.1') with the same backbone weights"
    on_boards = True
    drift_tolerance = (1e-3, 0.0)
    presets = {
        "clean": {"net": "alex", "input_range": "[-1,1]", "spatial": False},
        "disco": _DISCO,
        "disco-v1": _DISCO,
        "jh": {"net": "alex", "input_range": "[-1,1]", "spatial": True},
    }

    runtime_options = {"weights": Spec(str, nullable=True)}  # a local weights file instead of the pinned download
    shared = ("_net",)  # clones (workers' fresh states) use the loaded network, never a copy

    def __init__(self, preset=None, device="cpu", weights=None, **overrides):
        super().__init__(preset, device, **overrides)
        self.weights = weights
        self._net = None  # loaded on first use: a parent that only merges workers' states never loads it

    @property
    def net(self) -> LPIPSNet:
        if self._net is None:
            self._net = lpips_net(self.settings["net"], self.device, self.weights)
        return self._net

    def prepare(self) -> None:
        _ = self.net

    def min_frame_size(self) -> int:
        return min_input_size(self.settings["net"])

    def work_bytes_per_pixel(self) -> float:
        # activations of both images through the trunk: 99 (alex) and 1536 (vgg) measured by
        # benchmarks/memory.py --per-pixel; VGG keeps full-resolution 64-channel maps
        return {"alex": 128.0, "vgg": 1600.0}[self.settings["net"]]

    def frame_values(self, pred, gt):
        s = self.settings
        return self.net(to_input(pred, s["input_range"]), to_input(gt, s["input_range"]), spatial=s["spatial"])

    def identity(self):
        # the weights' identity without a device copy: the CPU network where this process has not used it
        net = self._net or lpips_net(self.settings["net"], "cpu", self.weights)
        return {**super().identity(), "weights": dict(net.info)}
