"""Frame FID (pytorch-fid preset) against pytorch-fid itself: the package's command line run on the same
frames written as PNG, with the same weights file — a seeded random state dict of pytorch-fid's
FID-Inception network (the official file cannot be downloaded here; the parity is of network, resize,
scaling, statistics and distance, not of the weights). Real frames from shared/data/wild, a handful so the
CPU time stays small."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.features.inception import WEIGHTS_FILE
from evalkit.metrics.fid import FID

ABS, REL = 1e-3, 1e-5  # the tolerance: abs ≤ 1e-3 or rel ≤ 1e-5


def _random_fid_weights(path):
    """A state dict in pytorch-fid's format: torchvision's Inception3 patched with pytorch-fid's FID blocks
    (as pytorch_fid.inception.fid_inception_v3 builds it), seeded, convs He-initialised so features are O(1)."""
    import torchvision
    import pytorch_fid.inception as pfi

    torch.manual_seed(0)
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, init_weights=False, weights=None)
    for name, block in (("Mixed_5b", pfi.FIDInceptionA(192, pool_features=32)),
                        ("Mixed_5c", pfi.FIDInceptionA(256, pool_features=64)),
                        ("Mixed_5d", pfi.FIDInceptionA(288, pool_features=64)),
                        ("Mixed_6b", pfi.FIDInceptionC(768, channels_7x7=128)),
                        ("Mixed_6c", pfi.FIDInceptionC(768, channels_7x7=160)),
                        ("Mixed_6d", pfi.FIDInceptionC(768, channels_7x7=160)),
                        ("Mixed_6e", pfi.FIDInceptionC(768, channels_7x7=192)),
                        ("Mixed_7b", pfi.FIDInceptionE_1(1280)), ("Mixed_7c", pfi.FIDInceptionE_2(2048))):
        setattr(net, name, block)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """A torch home whose hub cache holds the weights where pytorch-fid itself looks for them."""
    home = tmp_path_factory.mktemp("torch_home")
    _random_fid_weights(home / "hub" / "checkpoints" / WEIGHTS_FILE)
    return home


@pytest.fixture(scope="module")
def frames(shared, tmp_path_factory):
    """5 frames of two real dance clips, and the same frames as PNG folders for pytorch-fid."""
    from PIL import Image

    from evalkit.io.video import decode_video

    wild = shared / "data" / "wild"
    out = {}
    for side, clip in (("pred", "animatex_dance_1.mp4"), ("gt", "animatex_dance_2.mp4")):
        x = decode_video(wild / clip).frames[::30][:5]
        folder = tmp_path_factory.mktemp(side)
        for i, frame in enumerate(x):
            Image.fromarray(frame).save(folder / f"{i:03d}.png")
        out[side], out[f"{side}_dir"] = x, folder
    return out


def _pytorch_fid_cli(torch_home, frames, dims: int, device: str = "cpu") -> float:
    env = {**os.environ, "TORCH_HOME": str(torch_home)}
    run = subprocess.run([sys.executable, "-m", "pytorch_fid", str(frames["pred_dir"]), str(frames["gt_dir"]),
                          "--device", device, "--dims", str(dims), "--num-workers", "0", "--batch-size", "5"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    return float(run.stdout.strip().split("FID:")[-1])


def _evalkit_fid(frames, device: str = "cpu", **options) -> tuple[float, FID]:
    metric = FID(device=device, **options)
    metric.add_frames("pred", frames["pred"])
    metric.add_frames("gt", frames["gt"])
    with pytest.warns(UserWarning, match="few frames"):
        value = metric.compute()["fid"]
    return value, metric


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= ABS or abs(a - b) <= REL * abs(b)


@pytest.mark.slow  # two 2048-d matrix square roots and 20 Inception passes on CPU: about a minute
def test_fid_equals_pytorch_fid_pool3(torch_home, frames, monkeypatch):
    """Default preset, weights found where pytorch-fid looks (the torch hub cache), 2048-d pool3."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    ours, metric = _evalkit_fid(frames)
    theirs = _pytorch_fid_cli(torch_home, frames, 2048)
    assert theirs > 1.0  # real frames of two clips, O(1) features: a distance far from 0
    assert _close(ours, theirs), (ours, theirs)
    ident = metric.identity()
    assert ident["weights"]["file"].endswith(WEIGHTS_FILE) and len(ident["weights"]["sha256"]) == 64
    assert ident["weights"]["official"] is False and ident["N"] == {"pred": 5, "gt": 5}


def test_fid_dims_and_shard_merge(torch_home, frames):
    """dims=64 (pytorch-fid's first block, spatially averaged) by an explicit weights path; two shards merged
    give the single-process value."""
    path = torch_home / "hub" / "checkpoints" / WEIGHTS_FILE
    ours, _ = _evalkit_fid(frames, dims=64, weights=str(path))
    assert _close(ours, _pytorch_fid_cli(torch_home, frames, 64))
    a, b = FID(dims=64, weights=str(path)), FID(dims=64, weights=str(path))
    a.add_frames("pred", frames["pred"][:2])
    b.add_frames("pred", frames["pred"][2:])
    a.add_frames("gt", frames["gt"][:3])
    b.add_frames("gt", frames["gt"][3:])
    with pytest.warns(UserWarning):
        merged = a.merge(b).compute()["fid"]
    assert merged == pytest.approx(ours, rel=1e-9)


def test_distance_route_is_pytorch_fids(monkeypatch):
    """The distance on pytorch-fid's statistics equals its calculate_frechet_distance, also with singular
    covariances (fewer vectors than dimensions)."""
    import warnings

    from pytorch_fid.fid_score import calculate_frechet_distance

    from evalkit.metrics.frechet import moments

    rng = np.random.default_rng(0)
    metric = FID(dims=64)
    for side, shift, n in (("pred", 0.3, 40), ("gt", 0.0, 100)):
        x = rng.normal(shift, 1.0, size=(n, 64))
        st = metric._state
        st[f"{side}_n"], st[f"{side}_sum"], st[f"{side}_outer"] = float(n), x.sum(0), x.T @ x
        np.testing.assert_allclose(metric.statistics(side)[1], moments(x)[1], atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = calculate_frechet_distance(*metric.statistics("pred"), *metric.statistics("gt"))
        assert metric.compute()["fid"] == pytest.approx(want, rel=1e-12)


def test_missing_weights_is_one_line_exit_2(tmp_path, shared, capsys, monkeypatch):
    from evalkit.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    clip = shared / "data" / "wild" / "unianimate_source_video.mp4"
    code = main(["score", "--pred", str(clip), "--gt", str(clip), "-m", "fid"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert WEIGHTS_FILE in err[0] and "fid.weights" in err[0] and str(tmp_path / "empty") in err[0]


def test_bad_options(torch_home, tmp_path):
    with pytest.raises(EvalkitError, match="dims"):
        FID(dims=100)
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(EvalkitError, match="not pytorch-fid Inception weights"):
        FID(weights=str(bad)).prepare()


@pytest.mark.gpu
def test_fid_on_gpu_equals_pytorch_fid(torch_home, frames, monkeypatch):
    """On the GPU against pytorch-fid's own pipeline on the GPU (its loader, its model from the hub cache, its
    activation statistics), the distance of its statistics by the same scipy route: pytorch-fid 0.3.0's
    calculate_frechet_distance cannot run on SciPy >= 1.18 (sqrtm lost ``disp``), which GPU images ship."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from pytorch_fid.fid_score import calculate_activation_statistics
    from pytorch_fid.inception import InceptionV3

    from evalkit.metrics.frechet import frechet_distance

    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    ours, _ = _evalkit_fid(frames, device="cuda")
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to("cuda").eval()
    stats = {side: calculate_activation_statistics(sorted(str(p) for p in frames[f"{side}_dir"].glob("*.png")),
                                                   model, 5, 2048, "cuda", 0) for side in ("pred", "gt")}
    assert _close(ours, frechet_distance(*stats["pred"], *stats["gt"], method="scipy")["fd"])
