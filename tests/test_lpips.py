"""LPIPS vs the `lpips` package loaded with the same backbone (≤ 1e-5) and the golden triplet values."""
import cv2
import numpy as np
import pytest
import torch

from evalkit.metrics.lpips import LPIPS, lpips_net, to_input
from frames import random_pair, real_pair

TOL = 1e-5
GOLDEN = {"alex": (0.7218807, 0.1375656), "vgg": (0.5686128, 0.4216643)}  # shared/data/golden.md (b)


def reference_model(net: str, spatial: bool):
    """lpips.LPIPS with its own v0.1 heads and our pinned trunk loaded into its slices (no download)."""
    import lpips

    model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, spatial=spatial, verbose=False)
    ours = lpips_net(net, "cpu")
    trunk = {}
    for k, (block) in enumerate(ours.slices, start=1):
        for name, tensor in block.state_dict().items():
            trunk[f"slice{k}.{name}"] = tensor
    model.net.load_state_dict(trunk, strict=True)
    return model.eval()


def read_rgb(path):
    im = cv2.imread(str(path))[:, :, ::-1]
    return np.ascontiguousarray(im)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_golden_triplet(shared, net):
    d = shared / "data" / "images" / "lpips"
    ref, p0, p1 = (read_rgb(d / f"ex_{n}.png") for n in ("ref", "p0", "p1"))
    # the lpips README way: x/127.5 - 1 in float64, then float32
    t = lambda im: torch.from_numpy((im / 127.5 - 1.0).astype(np.float32).transpose(2, 0, 1).copy())[None]  # noqa: E731
    model = lpips_net(net, "cpu")
    assert model(t(ref), t(p0)).item() == pytest.approx(GOLDEN[net][0], abs=TOL)
    assert model(t(ref), t(p1)).item() == pytest.approx(GOLDEN[net][1], abs=TOL)


@pytest.mark.parametrize("preset", ["clean", "disco", "jh"])
def test_presets_match_lpips_package(shared, preset):
    metric = LPIPS(preset)
    s = metric.settings
    model = reference_model(s["net"], s["spatial"])
    for a, b in (random_pair(5, n=2, h=64, w=64), real_pair(shared, n=2, size=96)):
        ours = metric.frame_values(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        ref = []
        for x, y in zip(a, b):  # the reference loop: one frame at a time
            tx, ty = to_input(torch.from_numpy(x[None]), s["input_range"]), to_input(torch.from_numpy(y[None]), s["input_range"])
            with torch.no_grad():
                ref.append(model(tx, ty).mean().item())
        np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)


def test_archive_heads_equal_lpips_package():
    import evalkit.weights.lpips  # noqa: F401
    from evalkit.weights.registry import load

    for net in ("alex", "vgg"):
        tensors, _ = load(f"lpips-{net}")
        model = lpips_net(net, "cpu")
        for i in range(5):
            assert np.array_equal(tensors[f"jax_heads.{i}.weight"], model.heads[i].numpy())


def test_distance_is_forward_with_gradients():
    """LPIPSNet.distance (a training loss) returns forward's values and passes gradients to its input."""
    import torch

    from evalkit.features.lpips_net import LPIPSNet

    net = LPIPSNet("alex")
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    a.requires_grad_(True)
    d = net.distance(a, b)
    d.sum().backward()
    torch.testing.assert_close(d.detach(), net(a.detach(), b), rtol=0, atol=0)
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())
