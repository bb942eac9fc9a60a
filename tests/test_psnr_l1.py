"""PSNR (incl. the DisCo v1 uint8 wrap-around "PSNR*") and L1 vs their reference formulas, ≤ 1e-6."""
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from evalkit.metrics.l1 import L1
from evalkit.metrics.psnr import PSNR
from frames import random_pair, real_pair


def frames(shared=None):
    return [random_pair(1), random_pair(2, noise=3.0)] + ([real_pair(shared)] if shared else [])


def psnr_ref(preset, x, y):
    if preset == "clean":
        return peak_signal_noise_ratio(x, y, data_range=255)
    if preset == "disco":  # float64 MSE, 20 log10(255/sqrt(mse)), cap 100
        mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
        return 100.0 if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse))
    if preset == "disco-v1":  # the literal numpy uint8 expression of DisCo v1
        mse = np.mean((x - y) ** 2)
        return 100.0 if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse))
    if preset == "jh":
        mse = np.mean((x / 255.0 - y / 255.0) ** 2)
        return 100.0 if mse < 1e-10 else 20 * np.log10(1.0 / np.sqrt(mse))


@pytest.mark.parametrize("preset", ["clean", "disco", "disco-v1", "jh"])
def test_psnr_presets(preset, shared):
    for a, b in frames(shared):
        ours = PSNR(preset).frame_values(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        ref = [psnr_ref(preset, x, y) for x, y in zip(a, b)]
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_disco_v1_wraps_and_saturates():
    a, b = random_pair(3, noise=40.0)
    correct = PSNR("disco").frame_values(torch.from_numpy(a), torch.from_numpy(b)).mean().item()
    buggy = PSNR("disco-v1").frame_values(torch.from_numpy(a), torch.from_numpy(b)).mean().item()
    assert buggy > correct + 5  # the overflow inflates PSNR at large errors (docs/metric-spec-notes.md §2.1)


def test_identical_frames_cap_and_count():
    a, _ = random_pair(4)
    m = PSNR("clean")
    v = m.frame_values(torch.from_numpy(a), torch.from_numpy(a))
    assert torch.all(v == 100.0) and m.counts()["capped_frames"] == len(a)


@pytest.mark.parametrize("preset", ["clean", "disco"])
def test_l1(preset, shared):
    for a, b in frames(shared):
        ours = L1(preset).frame_values(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=(1, 2, 3))
        ref = diff / 255.0 if preset == "clean" else diff / (a.shape[1] * a.shape[2])
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


def test_disco_l1_golden():
    # docs/metric-spec-notes.md §8: 256×256×3 image vs image+10 (clipped) gives 1.4928e-4 with DisCo's formula
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (1, 256, 256, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    value = L1("disco").frame_values(torch.from_numpy(b), torch.from_numpy(a)).item()
    assert value == pytest.approx(1.4928e-4, abs=5e-8)
