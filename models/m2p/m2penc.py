"""M2PEnc: music features → per-frame pose guidance features and keypoint heatmaps.

The paper describes "alternating inflated 3D convolutions and 3D attention" producing (N, C, 64, 64).
Written here (model-design §1.2 proposal): a per-frame linear map of the standardised music features to an
S×S plane, ``conv_in``, then L blocks of [inflated 3×3 conv + SiLU → per-frame spatial self-attention →
temporal self-attention over frames (zero-initialised)], and two heads:

* guidance head (zero-initialised, C_guid = the denoiser's first block width) — what the denoiser adds
  after ``conv_in``; trained against the sum of the frozen guidance encoders' outputs (G*);
* heatmap head (C_heat = 17 COCO keypoints) — Gaussian keypoint heatmaps (H*).

Temporal attention is what lets a frame see the beat phase; the per-frame layers alone cannot.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import spatial_transformer, temporal_transformer, unfold, zero_module


class _Block(nn.Module):
    def __init__(self, channels: int, heads: int, max_frames: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.spatial = spatial_transformer(channels, heads)
        self.temporal = temporal_transformer(channels, heads, max_frames)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:  # x: (B·F, C, S, S)
        x = F.silu(self.conv(x))
        x = self.spatial(x, return_dict=False)[0]
        return self.temporal(x, num_frames=frames)


class M2PEnc(nn.Module):
    def __init__(self, music_dim: int, size: int, guid_channels: int, heat_channels: int, channels: int = 64,
                 layers: int = 2, heads: int = 4, max_frames: int = 64):
        super().__init__()
        self.size, self.max_frames = size, max_frames
        # feature standardisation, fitted on the training music (train.py) and saved with the weights
        self.register_buffer("music_mean", torch.zeros(music_dim))
        self.register_buffer("music_std", torch.ones(music_dim))
        self.proj = nn.Linear(music_dim, size * size)  # full size: 4800 (or 35) → 4096 = 64²
        self.conv_in = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList(_Block(channels, heads, max_frames) for _ in range(layers))
        self.guid_head = zero_module(nn.Conv2d(channels, guid_channels, 3, padding=1))
        self.heat_head = nn.Conv2d(channels, heat_channels, 3, padding=1)

    def set_music_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.music_mean.copy_(mean)
        self.music_std.copy_(std.clamp_min(1e-4))

    def forward(self, music: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """music (B, F, D) → guidance (B, C_guid, F, S, S), heatmaps (B, C_heat, F, S, S)."""
        b, f, _ = music.shape
        if f > self.max_frames:
            raise ValueError(f"M2PEnc got {f} frames; its temporal attention covers at most {self.max_frames}")
        x = (music - self.music_mean) / self.music_std
        x = self.proj(x.to(self.proj.weight.dtype)).view(b * f, 1, self.size, self.size)
        x = F.silu(self.conv_in(x))
        for block in self.blocks:
            x = block(x, f)
        return unfold(self.guid_head(x), f), unfold(self.heat_head(x), f)


def soft_argmax(heat: torch.Tensor) -> torch.Tensor:
    """(B, K, F, S, S) heatmaps → (B, K, F, 2) keypoints (x, y) in latent pixels: the centre of mass of the
    map's positive part (the same readout `evaluate pose` uses)."""
    p = heat.float().clamp_min(0)
    grid = torch.arange(heat.shape[-1], device=heat.device, dtype=torch.float32)
    mass = p.sum(dim=(-2, -1)) + 1e-6
    x = (p.sum(dim=-2) * grid).sum(-1) / mass
    y = (p.sum(dim=-1) * grid).sum(-1) / mass
    return torch.stack([x, y], dim=-1)


def kinetic_profile(heat: torch.Tensor) -> torch.Tensor:
    """(B, K, F, S, S) heatmaps → (B, F−1) kinetic velocity: mean keypoint speed between frames (latent px)."""
    xy = soft_argmax(heat)
    return (xy[:, :, 1:] - xy[:, :, :-1]).pow(2).sum(-1).add(1e-8).sqrt().mean(dim=1)


def m2penc_loss(guid: torch.Tensor, heat: torch.Tensor, guid_target: torch.Tensor, heat_target: torch.Tensor,
                heat_weight: float = 1.0, motion_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """MSE(guidance, G*) + λ·MSE(heatmaps, H*) + μ·MSE(kinetic profile, its target), parts for logging.

    The motion term is ours (the paper has none): which move a dancer makes is not determined by the music, so
    the pose MSE alone regresses to a near-static mean pose; *when* the body moves and stops is, and the speed
    profile — the same for a move and its mirror image — carries it."""
    lg = F.mse_loss(guid.float(), guid_target.float())
    lh = F.mse_loss(heat.float(), heat_target.float())
    loss, parts = lg + heat_weight * lh, {"guid_mse": lg.detach(), "heat_mse": lh.detach()}
    if motion_weight:
        lm = F.mse_loss(kinetic_profile(heat), kinetic_profile(heat_target))
        loss, parts["motion_mse"] = loss + motion_weight * lm, lm.detach()
    return loss, parts
