"""Small building blocks shared by M2PEnc and the guidance encoder.

Video tensors are (B, C, F, H, W) as in CHAMP; "inflated" 2D layers run on frames folded into the batch,
(B·F, C, H, W), in the same (b f) order as diffusers' UNetMotionModel folds its input.
"""
from __future__ import annotations

import torch
from torch import nn


def fold(x: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) → (B·F, C, H, W), frame index fastest."""
    b, c, f, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def unfold(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(B·F, C, H, W) → (B, C, F, H, W)."""
    bf, c, h, w = x.shape
    return x.reshape(bf // frames, frames, c, h, w).permute(0, 2, 1, 3, 4)


def zero_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def spatial_transformer(channels: int, heads: int, groups: int = 32) -> nn.Module:
    """Per-frame spatial self-attention block (CHAMP's Transformer3DModel without temporal attention has the
    same parameters as diffusers' Transformer2DModel without cross-attention)."""
    from diffusers.models.transformers.transformer_2d import Transformer2DModel

    return Transformer2DModel(num_attention_heads=heads, attention_head_dim=channels // heads, in_channels=channels,
                              norm_num_groups=groups)


def temporal_transformer(channels: int, heads: int, max_frames: int, groups: int = 32) -> nn.Module:
    """AnimateDiff-style temporal self-attention over frames (sinusoidal positions), output zero-initialised
    so it starts as the identity."""
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

    block = AnimateDiffTransformer3D(num_attention_heads=heads, attention_head_dim=channels // heads,
                                     in_channels=channels, norm_num_groups=groups, positional_embeddings="sinusoidal",
                                     num_positional_embeddings=max_frames)
    zero_module(block.proj_out)
    return block
