"""Inception-I3D (RGB stream, Kinetics-400) in torch, written for evalkit.

The architecture follows the published description of DeepMind's I3D (the TF-Hub module
``deepmind/i3d-kinetics-400/1``): Inception-v1 inflated to 3-D, BatchNorm without scale
(epsilon 1e-3, the Sonnet default the TF model was trained with), and TF 'SAME' padding for
convolutions and max-pools (zeros for convs, -inf for pools, the odd pixel at the far end).

The FVD feature is the ``Logits`` end point: 2x7x7 VALID average pool, 1x1x1 conv to 400 classes
(with bias, no BN), spatial squeeze, mean over the remaining time steps -> (B, 400) pre-softmax logits.

Input: float (B, 3, T, 224, 224) in [-1, 1]. T >= 9 (the last stage must keep >= 2 time steps).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from evalkit.errors import EvalkitError

BN_EPS = 1e-3
NUM_CLASSES = 400
MIN_FRAMES = 9
INPUT_SIZE = 224

# (name, out channels of branch0, branch1a, branch1b, branch2a, branch2b, branch3)
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding of one dimension: (before, after); the odd element goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class FrozenBatchNorm(nn.Module):
    """Inference BatchNorm with a shift but no scale (the TF model learned no gamma)."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels), requires_grad=False)

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias, False, 0.0, BN_EPS)


class Unit3D(nn.Module):
    """Conv3d with TF 'SAME' padding -> BatchNorm (no scale) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), bn: bool = True,
                 relu: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=bias)
        self.bn = FrozenBatchNorm(cout) if bn else None
        self.relu = relu

    def forward(self, x):
        pads = [same_pads(n, k, s) for n, k, s in zip(x.shape[2:], self.kernel, self.stride)]
        sym = tuple(lo for lo, _ in pads)
        extra = [hi - lo for lo, hi in pads]
        if any(extra):  # only the far-end remainder needs an explicit pad (F.pad order: W, H, T)
            x = F.pad(x, (0, extra[2], 0, extra[1], 0, extra[0]))
        x = F.conv3d(x, self.conv.weight, self.conv.bias, self.stride, sym)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True) if self.relu else x

    @torch.no_grad()
    def fold_batchnorm(self) -> None:
        """Fold the frozen BN into the conv (computed in float64): same function, one op fewer."""
        if self.bn is None:
            return
        inv = (self.bn.running_var.double() + BN_EPS).rsqrt()
        w = self.conv.weight.double() * inv.view(-1, 1, 1, 1, 1)
        b = self.bn.bias.double() - self.bn.running_mean.double() * inv
        conv = nn.Conv3d(self.conv.in_channels, self.conv.out_channels, self.kernel, self.stride, bias=True)
        conv.weight.data = w.to(self.conv.weight.dtype)
        conv.bias.data = b.to(self.conv.weight.dtype)
        conv.requires_grad_(False)
        self.conv, self.bn = conv.to(self.conv.weight.device), None


def max_pool_same(x, kernel, stride):
    """Max-pool with TF 'SAME' padding (padding never wins a max: it is -inf)."""
    pads = [same_pads(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    if x.is_cuda:
        return max_pool_separable(x, kernel, stride, pads)
    if all(hi - lo in (0, 1) for lo, hi in pads) and all(k >= s for k, s in zip(kernel, stride)):
        # an odd total pad puts one extra -inf at the far end: that is torch's ceil_mode with
        # symmetric padding `lo` (checked in tests against the explicit pad below)
        return F.max_pool3d(x, kernel, stride, [lo for lo, _ in pads], ceil_mode=True)
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]
    return F.max_pool3d(F.pad(x, flat, value=float("-inf")), kernel, stride)


def max_pool_separable(x, kernel, stride, pads):
    """The same pool as three 1-D maxima of strided slices (T, then H, then W): max is exact in any order,
    so the values are identical. On CUDA, torch's max_pool3d computes indices too and was a third of
    I3D's GPU time in channels-last; this is a few elementwise passes."""
    for dim, k, s, (lo, hi) in zip((2, 3, 4), kernel, stride, pads):
        if k == 1 and s == 1:
            continue
        if lo or hi:
            flat = [0, 0] * (4 - dim) + [lo, hi]
            x = F.pad(x, flat, value=float("-inf"))
        n = (x.shape[dim] - k) // s + 1
        out = None
        for j in range(k):
            part = x.narrow(dim, j, (n - 1) * s + 1)
            if s > 1:
                index = [slice(None)] * x.ndim
                index[dim] = slice(None, None, s)
                part = part[tuple(index)]
            out = part if out is None else torch.maximum(out, part)
        x = out
    return x


class SpaceToDepthStem(nn.Module):
    """A folded stride-2 Unit3D (the 7×7×7 stem) as a stride-1 conv on the 2×2×2 space-to-depth input.

    out[o] = Σ_k w[k]·x[2o+k] (k < 7, SAME-padded x) = Σ_q Σ_r w[2q+r]·x[2(o+q)+r] with the kernel padded to
    8 taps (w[7] = 0): a 4×4×4 conv over 8·C channels. Same products, other summation order; cuDNN runs the
    3-channel stem with a slow generic kernel (41 % of I3D's bf16 GPU time on an H200), the 24-channel one not."""

    def __init__(self, unit: "Unit3D"):
        super().__init__()
        if unit.bn is not None or unit.stride != (2, 2, 2):
            raise RuntimeError("SpaceToDepthStem needs a folded stride-2 Unit3D")
        w = unit.conv.weight  # (O, C, kt, kh, kw)
        o, c = w.shape[:2]
        w8 = F.pad(w, [0, 8 - w.shape[4], 0, 8 - w.shape[3], 0, 8 - w.shape[2]])
        w8 = w8.view(o, c, 4, 2, 4, 2, 4, 2).permute(0, 1, 3, 5, 7, 2, 4, 6).reshape(o, c * 8, 4, 4, 4)
        self.weight = nn.Parameter(w8.contiguous(), requires_grad=False)
        self.bias = nn.Parameter(unit.conv.bias.detach().clone(), requires_grad=False)
        self.kernel, self.relu = unit.kernel, unit.relu

    def forward(self, x):
        b, c, *sizes = x.shape
        pads, outs = [], []
        for n, k in zip(sizes, self.kernel):
            lo, _ = same_pads(n, k, 2)
            out = -(-n // 2)
            pads.append((lo, 2 * (out + 3) - n - lo))  # padded length 2·(out + 3): every tap in range
            outs.append(out)
        x = F.pad(x, [p for lo_hi in reversed(pads) for p in lo_hi])
        t, h, w = (n + lo + hi for n, (lo, hi) in zip(sizes, pads))
        x = x.view(b, c, t // 2, 2, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 7, 2, 4, 6)
        x = x.reshape(b, c * 8, t // 2, h // 2, w // 2)
        if self.weight.is_contiguous(memory_format=torch.channels_last_3d):
            x = x.contiguous(memory_format=torch.channels_last_3d)
        y = F.conv3d(x, self.weight, self.bias)[:, :, :outs[0], :outs[1], :outs[2]]
        return F.relu(y, inplace=True) if self.relu else y


class InceptionBlock(nn.Module):
    def __init__(self, cin: int, out: tuple[int, ...]):
        super().__init__()
        self.branch0 = Unit3D(cin, out[0])
        self.branch1a = Unit3D(cin, out[1])
        self.branch1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.branch2a = Unit3D(cin, out[3])
        self.branch2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.branch3 = Unit3D(cin, out[5])
        self.out_channels = out[0] + out[2] + out[4] + out[5]
        self.pointwise: nn.Conv3d | None = None  # set by fuse_pointwise()

    @torch.no_grad()
    def fuse_pointwise(self) -> None:
        """One 1×1×1 conv for branch0, branch1a and branch2a (all read the block input; BN folded first):
        the input is read once and one GEMM replaces three."""
        units = (self.branch0, self.branch1a, self.branch2a)
        if any(u.bn is not None for u in units):
            raise RuntimeError("fold_batchnorm() before fuse_pointwise()")
        w = torch.cat([u.conv.weight for u in units])
        conv = nn.Conv3d(w.shape[1], w.shape[0], 1, bias=True).to(w.device, w.dtype)
        conv.weight.data, conv.bias.data = w.clone(), torch.cat([u.conv.bias for u in units])
        self.pointwise = conv.requires_grad_(False)
        self.splits = [u.conv.out_channels for u in units]

    def forward(self, x):
        if self.pointwise is not None:
            b0, b1, b2 = F.relu(self.pointwise(x), inplace=True).split(self.splits, dim=1)
            return torch.cat([b0, self.branch1b(b1), self.branch2b(b2),
                              self.branch3(max_pool_same(x, (3, 3, 3), (1, 1, 1)))], dim=1)
        return torch.cat([
            self.branch0(x),
            self.branch1b(self.branch1a(x)),
            self.branch2b(self.branch2a(x)),
            self.branch3(max_pool_same(x, (3, 3, 3), (1, 1, 1))),
        ], dim=1)


class InceptionI3D(nn.Module):
    """I3D RGB stream up to the time-averaged pre-softmax logits (B, 400)."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        cin = 192
        for name, out in _MIXED.items():
            block = InceptionBlock(cin, out)
            self.add_module(name, block)
            cin = block.out_channels
        self.logits = Unit3D(cin, num_classes, bn=False, relu=False, bias=True)

    def forward(self, x):
        if x.ndim != 5 or x.shape[1] != 3:
            raise EvalkitError(f"I3D expects (B, 3, T, H, W) clips, got shape {tuple(x.shape)}")
        if x.shape[2] < MIN_FRAMES:
            raise EvalkitError(f"I3D needs clips of at least {MIN_FRAMES} frames, got {x.shape[2]}")
        x = self.Conv3d_1a_7x7(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = max_pool_same(x, (3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = max_pool_same(x, (2, 2, 2), (2, 2, 2))
        x = self.Mixed_5c(self.Mixed_5b(x))
        if tuple(x.shape[3:]) != (7, 7):  # the TF model squeezes a 1x1 map after the 7x7 pool
            raise EvalkitError(f"I3D needs {INPUT_SIZE}x{INPUT_SIZE} frames "
                               f"(final map {x.shape[3]}x{x.shape[4]}, not 7x7)")
        if x.shape[2] < 2:
            raise EvalkitError(f"I3D needs >= 2 time steps at the last stage (clips of >= {MIN_FRAMES} frames)")
        # Logits: the 2x7x7 VALID average pool (spatial mean of the 7x7 map, then the mean of each pair of
        # neighbouring time steps), the 1x1x1 conv with bias (dropout is the identity at inference), the
        # mean over time. In float32 whatever the trunk's dtype: cheap, and CPU bf16 lacks avg_pool3d.
        x = x.float().mean(dim=(3, 4))
        x = (x[:, :, 1:] + x[:, :, :-1]) * 0.5
        w = self.logits.conv.weight.float().flatten(1)
        logits = torch.einsum("bct,oc->bot", x, w) + self.logits.conv.bias.float()[:, None]
        return logits.mean(dim=2)

    def fold_batchnorm(self) -> "InceptionI3D":
        for module in self.modules():
            if isinstance(module, Unit3D):
                module.fold_batchnorm()
        return self

    def fuse(self) -> "InceptionI3D":
        """Restructure for speed, same function: fused 1×1×1 convs per block, space-to-depth stem."""
        for module in self.modules():
            if isinstance(module, InceptionBlock):
                module.fuse_pointwise()
        self.Conv3d_1a_7x7 = SpaceToDepthStem(self.Conv3d_1a_7x7)
        return self


_MODELS: dict = {}


def load_i3d(device: str | torch.device = "cpu", fold_bn: bool = True, archive=None) -> tuple[InceptionI3D, dict]:
    """The pretrained I3D in eval mode (float32, cached per device) and its weights record."""
    from evalkit.weights import i3d as _spec  # registers the weights
    from evalkit.weights.registry import load

    key = (str(device), fold_bn)
    if key not in _MODELS:
        tensors, info = load(_spec.NAME, archive)
        model = InceptionI3D()
        state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
        model.load_state_dict(state, strict=True)
        model.requires_grad_(False).eval()
        if fold_bn:
            model.fold_batchnorm()
        _MODELS[key] = (model.to(device), info)
    return _MODELS[key]


PRECISIONS = ("fp32", "tf32", "bf16")


class I3DFeatures:
    """Batched, no-grad feature extractor: float (B, 3, T, 224, 224) in [-1, 1] -> float32 (B, 400).

    ``precision``: ``fp32`` is the reference (IEEE float32 convolutions; on CUDA, TF32 is switched off
    for the call); ``tf32`` lets cuDNN use TF32 tensor cores; ``bf16`` runs weights and activations in
    bfloat16. The last two are faster on GPUs and are not the reference numbers. ``channels_last``
    (default: on CUDA) uses the NDHWC layout cuDNN prefers; ``compile`` wraps the network in
    torch.compile; ``cudnn_benchmark`` lets cuDNN pick the fastest algorithms (fixed clip shapes).
    """

    dim = NUM_CLASSES

    def __init__(self, device="cpu", precision: str = "fp32", channels_last: bool | None = None,
                 compile: bool = False, cudnn_benchmark: bool = True, archive=None, fuse: bool | None = None):
        if precision not in PRECISIONS:
            raise EvalkitError(f"unknown precision '{precision}'", hint=f"choose one of: {', '.join(PRECISIONS)}")
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        self.cudnn_benchmark = cudnn_benchmark
        model, self.info = load_i3d(self.device, fold_bn=True, archive=archive)
        # fused pointwise convs: default in the non-reference modes (sums regrouped inside the GEMM)
        self.fuse = precision != "fp32" if fuse is None else fuse
        if self.dtype != torch.float32 or self.channels_last or self.fuse:
            import copy

            model = copy.deepcopy(model).to(self.dtype)
            if self.fuse:
                model.fuse()
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last_3d)
        self.model = torch.compile(model) if compile else model
        self.compiled = compile

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, self.dtype, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last_3d if self.channels_last else torch.contiguous_format)
        if self.device.type != "cuda":
            return self.model(x).float()
        with torch.backends.cudnn.flags(enabled=True, benchmark=self.cudnn_benchmark, deterministic=False,
                                        allow_tf32=self.precision == "tf32"):
            return self.model(x).float()
