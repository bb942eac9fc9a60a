"""The keypoint-image VAE: a small diffusers ``AutoencoderKL`` over 17-channel keypoint images.

Images in [0, 1] enter as 2·x − 1 (the range AutoencoderKL is built for) and leave the same way. Latents are
the posterior means times ``latent_scale`` (1/std of the training latents, set after VAE training), so the DiT
sees roughly unit-variance latents. The loss weights splat pixels (1 + fg_weight·target): with plain MSE
an all-black image is a good local optimum, as splats cover ~0.3 % of the pixels.
"""
from __future__ import annotations

import torch
from torch import nn


class PoseVAE(nn.Module):
    def __init__(self, vae_kwargs: dict):
        super().__init__()
        from diffusers import AutoencoderKL

        self.vae = AutoencoderKL(**vae_kwargs)
        self.register_buffer("latent_scale", torch.tensor(1.0))

    def encode(self, maps: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        """(N, 17, S, S) in [0, 1] → scaled latents (N, C, s, s)."""
        dist = self.vae.encode((maps * 2 - 1).to(self.vae.dtype)).latent_dist
        z = dist.sample(generator) if sample else dist.mean
        return z * self.latent_scale.to(z.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (N, C, s, s) → images (N, 17, S, S), nominally in [0, 1] (not clipped)."""
        z = latents.to(self.vae.dtype) / self.latent_scale.to(self.vae.dtype)
        return (self.vae.decode(z).sample + 1) / 2

    def loss(self, maps: torch.Tensor, eps: torch.Tensor, fg_weight: float, kl_weight: float):
        """(total, weighted reconstruction MSE, KL per latent element) for a batch of images; ``eps`` is the
        posterior sample's noise (drawn by the caller's seeded generator)."""
        dist = self.vae.encode((maps * 2 - 1).to(self.vae.dtype)).latent_dist
        z = dist.mean + dist.std * eps.to(dist.mean.dtype)
        rec = (self.vae.decode(z).sample.float() + 1) / 2
        weight = 1 + fg_weight * maps.float()
        mse = (weight * (rec - maps.float()) ** 2).sum() / weight.sum()
        kl = dist.kl().mean() / z[0].numel()
        return mse + kl_weight * kl, mse.detach(), kl.detach()


def fit_latent_scale(vae: PoseVAE, maps: torch.Tensor) -> float:
    """1 / std of the unscaled latent means of ``maps`` (sets the DiT's input scale)."""
    with torch.no_grad():
        z = vae.vae.encode((maps * 2 - 1).to(vae.vae.dtype)).latent_dist.mean
    value = float(1.0 / z.float().std().clamp_min(1e-6))
    vae.latent_scale.fill_(value)
    return value
