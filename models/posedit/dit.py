"""PoseDiT: a diffusion transformer over per-frame pose latents, music tokens and reference-pose tokens.

Tokens (one sequence, full self-attention; widths ``d``):

* **pose tokens** — each frame's latent (C, s, s) cut into (s/p)² patches of p×p; a patch embeds the noisy
  latent, the known-context latent and the context mask (for continuing a previous segment);
* **music tokens** — one per frame: the frame's 35-d music features (standardised) through a 2-layer MLP;
* **reference tokens** — the reference pose's latent patches (the subject's body proportions and placement).

Position: a sinusoidal *temporal* embedding of the window-relative frame index is added to the music token of
frame t **and** to every pose token of frame t — the time-shared index; pose and reference tokens add a learned
spatial embedding of their patch position; a learned type embedding tells the three kinds apart. Reference
tokens carry no temporal index.

Blocks are diffusers ``BasicTransformerBlock`` with ``ada_norm_single`` (PixArt-α's adaLN: one timestep MLP,
a per-block scale-shift table) and self-attention only; the output head is PixArt's modulated LayerNorm and a
zero-initialised linear map back to patches, read from the pose tokens only. The model predicts the flow-
matching velocity (data − noise). Classifier-free guidance on music: a learned null token replaces the music
tokens (training drops them with probability ``music_dropout``).
"""
from __future__ import annotations

import torch
from torch import nn

from .config import PoseDiTConfig


def sincos(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(n,) positions → (n, dim) sinusoidal embedding (diffusers' 1-D sin-cos helper)."""
    from diffusers.models.embeddings import get_1d_sincos_pos_embed_from_grid

    return get_1d_sincos_pos_embed_from_grid(dim, positions.float(), output_type="pt").float()


class PoseDiT(nn.Module):
    def __init__(self, cfg: PoseDiTConfig):
        super().__init__()
        from diffusers.models.attention import BasicTransformerBlock
        from diffusers.models.normalization import AdaLayerNormSingle

        self.cfg = cfg
        c, p, d = cfg.latent_channels, cfg.patch, cfg.width
        self.n_patch = cfg.tokens_per_frame
        self.register_buffer("music_mean", torch.zeros(cfg.music_dim))
        self.register_buffer("music_std", torch.ones(cfg.music_dim))
        self.pose_in = nn.Linear((2 * c + 1) * p * p, d)  # noisy latent, context latent, context mask
        self.ref_in = nn.Linear(c * p * p, d)
        self.music_in = nn.Sequential(nn.Linear(cfg.music_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.null_music = nn.Parameter(torch.zeros(d))
        self.spatial = nn.Parameter(torch.randn(self.n_patch, d) * 0.02)
        self.kind = nn.Parameter(torch.randn(3, d) * 0.02)  # pose, music, reference
        self.t_embed = AdaLayerNormSingle(d)
        self.blocks = nn.ModuleList(
            BasicTransformerBlock(d, cfg.heads, d // cfg.heads, norm_type="ada_norm_single",
                                  norm_elementwise_affine=False, norm_eps=1e-6, activation_fn="gelu-approximate",
                                  attention_bias=True)
            for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.out_shift_scale = nn.Parameter(torch.randn(2, d) / d ** 0.5)
        self.proj_out = nn.Linear(d, c * p * p)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def set_music_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.music_mean.copy_(mean)
        self.music_std.copy_(std.clamp_min(1e-4))

    # patches ---------------------------------------------------------------------------------------------
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, s, s) → (B, T, n_patch, C·p²)."""
        b, t, c, h, w = x.shape
        p = self.cfg.patch
        x = x.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(b, t, (h // p) * (w // p), c * p * p)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n_patch, C·p²) → (B, T, C, s, s)."""
        b, t = x.shape[:2]
        p, c, s = self.cfg.patch, self.cfg.latent_channels, self.cfg.latent_size
        x = x.reshape(b, t, s // p, s // p, c, p, p).permute(0, 1, 4, 2, 5, 3, 6)
        return x.reshape(b, t, c, s, s)

    # forward ---------------------------------------------------------------------------------------------
    def forward(self, x_t: torch.Tensor, t: torch.Tensor, music: torch.Tensor, reference: torch.Tensor,
                context: torch.Tensor | None = None, context_mask: torch.Tensor | None = None,
                music_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity for noisy latents ``x_t`` (B, T, C, s, s) at flow times ``t`` (B,) in [0, 1] (1 = data).

        music (B, T, D) raw features; reference (B, C, s, s) latent of the reference pose; context (B, T, C, s, s)
        known latents where ``context_mask`` (B, T) is 1; music_keep (B,) False → the null music token.
        """
        b, n = x_t.shape[:2]
        d, dtype = self.cfg.width, self.pose_in.weight.dtype
        if context is None:
            context = torch.zeros_like(x_t)
            context_mask = torch.zeros(b, n, device=x_t.device, dtype=x_t.dtype)
        m = context_mask.to(x_t.dtype)[:, :, None, None, None]
        pose_in = torch.cat([x_t, context * m, m.expand(-1, -1, 1, *x_t.shape[3:])], dim=2)
        time_pe = sincos(torch.arange(n, device=x_t.device), d).to(dtype)  # (T, d), shared index
        pose = self.pose_in(self.patchify(pose_in).to(dtype))  # (B, T, P, d)
        pose = pose + self.spatial[None, None] + time_pe[None, :, None] + self.kind[0]
        mus = self.music_in(((music - self.music_mean) / self.music_std).to(dtype))
        if music_keep is not None:
            keep = music_keep.to(dtype)[:, None, None]
            mus = keep * mus + (1 - keep) * self.null_music
        mus = mus + time_pe[None] + self.kind[1]
        ref = self.ref_in(self.patchify(reference[:, None]).to(dtype))[:, 0] + self.spatial[None] + self.kind[2]
        h = torch.cat([ref, mus, pose.flatten(1, 2)], dim=1)
        mod, emb = self.t_embed(t.to(dtype) * 1000, batch_size=b, hidden_dtype=dtype)
        for block in self.blocks:
            h = block(h, timestep=mod)
        h = h[:, self.n_patch + n:]
        shift, scale = (self.out_shift_scale[None] + emb[:, None]).chunk(2, dim=1)
        h = self.norm_out(h) * (1 + scale) + shift
        out = self.proj_out(h).reshape(b, n, self.n_patch, -1)
        return self.unpatchify(out)
