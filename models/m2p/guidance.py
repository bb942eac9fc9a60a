"""CHAMP-style guidance encoder: a rendered guidance map (depth / normal / semantic / skeleton) → features
at the latent resolution, added to the denoiser after ``conv_in`` (one encoder per map type, outputs summed).

Layout written from CHAMP's description: ``conv_in`` 3×3 + SiLU, then per level a 3×3 conv and a stride-2
3×3 conv (each + SiLU), one per-frame spatial self-attention on the last level, and a zero-initialised
``conv_out``. CHAMP also builds attention layers it never runs (``attentions[:-1]``, ``guidance_attention``);
we leave them out, and ``load_full`` maps the one it runs (``attentions[-1]``) to ``attention`` and counts
the unused ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import fold, spatial_transformer, unfold, zero_module


class GuidanceEncoder(nn.Module):
    def __init__(self, out_channels: int, in_channels: int = 3, block_out_channels=(16, 32, 96, 256),
                 attention_heads: int = 8):
        super().__init__()
        chans = tuple(block_out_channels)
        self.conv_in = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.blocks = nn.ModuleList()
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            self.blocks.append(nn.Conv2d(c_in, c_in, 3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, 3, padding=1, stride=2))
        self.attention = spatial_transformer(chans[-1], attention_heads)
        self.conv_out = zero_module(nn.Conv2d(chans[-1], out_channels, 3, padding=1))
        self.downscale = 2 ** (len(chans) - 1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """maps (B, 3, F, H, W) in [0, 1] → features (B, C, F, H/d, W/d), d = 2^(levels-1)."""
        frames = maps.shape[2]
        x = F.silu(self.conv_in(fold(maps).to(self.conv_in.weight.dtype)))
        for conv in self.blocks:
            x = F.silu(conv(x))
        x = self.attention(x, return_dict=False)[0]
        return unfold(self.conv_out(x), frames)


class GuidanceEncoders(nn.ModuleDict):
    """One encoder per guidance type; ``forward`` sums their features (CHAMP: stack(...).sum(0))."""

    def __init__(self, types, out_channels: int, block_out_channels, attention_heads: int):
        super().__init__({t: GuidanceEncoder(out_channels, 3, block_out_channels, attention_heads) for t in types})

    def forward(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        missing = [t for t in self.keys() if t not in maps]
        if missing:
            raise KeyError(f"guidance maps missing: {missing}")
        return torch.stack([enc(maps[t]) for t, enc in self.items()]).sum(0)
