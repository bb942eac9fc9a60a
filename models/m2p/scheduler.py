"""DDIM with v-prediction and zero terminal SNR (diffusers ``DDIMScheduler``), plus the training loss.

CHAMP trains with ``scaled_linear`` betas but samples with ``linear`` ones; we use ``scaled_linear`` for both
(one schedule, so training and sampling see the same noise levels). Zero terminal SNR rescales the betas so
the last training step is pure noise, with ``trailing`` timestep spacing so sampling starts there.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def make_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         steps_offset=1, clip_sample=False, set_alpha_to_one=True, rescale_betas_zero_snr=True,
                         timestep_spacing="trailing", prediction_type="v_prediction")


def add_noise(scheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """q(x_t | x_0) for a video batch (B, C, F, H, W) and per-sample timesteps (B,)."""
    a = scheduler.alphas_cumprod.to(x0.device)[t].float()
    shape = (-1,) + (1,) * (x0.ndim - 1)
    return (a.sqrt().view(shape) * x0 + (1 - a).sqrt().view(shape) * noise).to(x0.dtype)


def velocity(scheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The v-prediction target √ᾱ·ε − √(1−ᾱ)·x0."""
    a = scheduler.alphas_cumprod.to(x0.device)[t].float()
    shape = (-1,) + (1,) * (x0.ndim - 1)
    return (a.sqrt().view(shape) * noise - (1 - a).sqrt().view(shape) * x0).to(x0.dtype)


def diffusion_loss(scheduler, pred_v: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                   snr_gamma: float | None = 5.0) -> torch.Tensor:
    """MSE on v with min-SNR weighting (v-prediction form: min(SNR, γ)/(SNR + 1)), mean over samples."""
    target = velocity(scheduler, x0, noise, t)
    per_sample = F.mse_loss(pred_v.float(), target.float(), reduction="none").flatten(1).mean(1)
    if snr_gamma is None:
        return per_sample.mean()
    a = scheduler.alphas_cumprod.to(x0.device)[t].float()
    snr = a / (1 - a).clamp_min(1e-8)
    weight = torch.minimum(snr, torch.full_like(snr, snr_gamma)) / (snr + 1)
    return (per_sample * weight).mean()

