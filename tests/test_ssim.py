"""SSIM presets vs scikit-image, abs tolerance 1e-6 (observed ~1e-14)."""
import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from evalkit.metrics.ssim import SSIM, _taps, filter_valid_conv, ssim_map_mean
from frames import random_pair, real_pair

TOL = 1e-6


def reference(preset, a, b):
    out = []
    for x, y in zip(a, b):
        if preset == "clean":
            out.append(structural_similarity(x, y, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, data_range=255))
        elif preset in ("disco", "disco-v1"):  # DisCo: cv2 BGR->grey uint8, skimage defaults
            gx = cv2.cvtColor(np.ascontiguousarray(x[..., ::-1]), cv2.COLOR_BGR2GRAY)
            gy = cv2.cvtColor(np.ascontiguousarray(y[..., ::-1]), cv2.COLOR_BGR2GRAY)
            out.append(structural_similarity(gx, gy))
        elif preset == "jh":
            out.append(structural_similarity(x / 255.0, y / 255.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False, data_range=1.0))
    return np.array(out)


@pytest.mark.parametrize("preset", ["clean", "disco", "disco-v1", "jh"])
def test_ssim_random_matches_skimage(preset):
    a, b = random_pair(0)
    ours = SSIM(preset).frame_values(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(ours, reference(preset, a, b), rtol=0, atol=TOL)


@pytest.mark.parametrize("preset", ["clean", "disco", "jh"])
def test_ssim_real_frames_match_skimage(shared, preset):
    a, b = real_pair(shared)
    ours = SSIM(preset).frame_values(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(ours, reference(preset, a, b), rtol=0, atol=TOL)


def test_gpu_conv_path_equals_cpu_filter():
    x = torch.rand(2, 5, 40, 33, dtype=torch.float64)
    from evalkit.metrics.ssim import _filter_valid

    for taps in (_taps(True, 11, 1.5), _taps(False, 7, 1.5)):
        torch.testing.assert_close(filter_valid_conv(x, taps), _filter_valid(x, taps), rtol=0, atol=1e-12)


def test_jh_zeros_vs_ones_golden():
    # JH README: SSIM(zeros, ones) on [0,1] = C1/(1+C1) = 9.999e-05
    x, y = torch.zeros(1, 3, 32, 32, dtype=torch.float64), torch.ones(1, 3, 32, 32, dtype=torch.float64)
    value = ssim_map_mean(x, y, gaussian=True, win=11, sample_cov=False, data_range=1.0).item()
    assert value == pytest.approx(1e-4 / (1 + 1e-4), abs=1e-12)
