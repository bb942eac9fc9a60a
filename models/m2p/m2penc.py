"""M2PEnc: music features → per-frame pose guidance features and keypoint heatmaps.

The paper describes "alternating inflated 3D convolutions and 3D attention" producing (N, C, 64, 64).
Written here (our proposal for the layers the paper leaves open; docs/models.md): a per-frame linear map of
the standardised music features to an S×S plane, ``conv_in``, then L blocks of [inflated 3×3 conv + SiLU → per-frame spatial self-attention →
temporal self-attention over frames (zero-initialised)], and two heads:

* guidance head (zero-initialised, C_guid = the denoiser's first block width) — what the denoiser adds
  after ``conv_in``; trained against the sum of the frozen guidance encoders' outputs (G*);
* heatmap head (C_heat = 17 COCO keypoints) — Gaussian keypoint heatmaps (H*).

Temporal attention is what lets a frame see the beat phase; the per-frame layers alone cannot.

With ``seq_layers`` > 0 (``tiny`` from checkpoint 65959f45; ours, not the paper's), a transformer over the frames
reads the music first — every frame sees the window's chords and beats — and feeds both the S×S projection and a
third head, COCO-17 keypoint coordinates (x, y) in latent pixels, trained on their distance to the true ones. Read
from a heatmap, a keypoint is an average over the poses the music allows; regressed directly, it is the pose the
music asks for (README).

With ``reference_pose`` as well (``tiny`` from the checkpoint after 65959f45; ours), M2PEnc also reads the reference
image's keypoints: their shape, normalised by the body's height, enters every frame of the sequence encoder, and the
keypoint head predicts each frame's displacement from the reference pose in units of that height. The reference's
own body — a tall dancer's limbs, where it stands — is then the model's input rather than an average body mapped
afterwards; at zero displacement (the head's initialisation) it draws the reference's stance held. Without the
reference's keypoints it uses the mean reference of its training data (``reference_mean``).
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
                 layers: int = 2, heads: int = 4, max_frames: int = 64, seq_layers: int = 0, seq_width: int = 128,
                 reference_pose: bool = False):
        super().__init__()
        reference_pose = reference_pose and seq_layers > 0  # it shapes the keypoint head, which needs the encoder
        self.size, self.max_frames, self.heat_channels = size, max_frames, heat_channels
        # feature standardisation, fitted on the training music (train.py) and saved with the weights
        self.register_buffer("music_mean", torch.zeros(music_dim))
        self.register_buffer("music_std", torch.ones(music_dim))
        self.seq = _Sequence(music_dim, seq_width, seq_layers, heads, max_frames) if seq_layers else None
        width = seq_width if seq_layers else music_dim
        self.kp_head = nn.Linear(seq_width, 2 * heat_channels) if seq_layers else None
        self.ref_in = zero_module(nn.Linear(3 * heat_channels + 3, seq_width)) if reference_pose else None
        if self.ref_in is not None:  # displacements from the reference pose: start at the pose held
            zero_module(self.kp_head)
            # the reference's keypoints in latent pixels (x, y, visible), averaged over the training clips
            self.register_buffer("reference_mean", torch.zeros(heat_channels, 3))
        elif self.kp_head is not None:  # start every joint at the grid's centre rather than its corner
            nn.init.constant_(self.kp_head.bias, (size - 1) / 2)
        self.proj = nn.Linear(width, size * size)  # full size: 4800 (or 35) → 4096 = 64²
        self.conv_in = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList(_Block(channels, heads, max_frames) for _ in range(layers))
        self.guid_head = zero_module(nn.Conv2d(channels, guid_channels, 3, padding=1))
        self.heat_head = nn.Conv2d(channels, heat_channels, 3, padding=1)

    def set_music_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.music_mean.copy_(mean)
        self.music_std.copy_(std.clamp_min(1e-4))

    def set_reference_mean(self, mean: torch.Tensor) -> None:
        if self.ref_in is not None:
            self.reference_mean.copy_(mean)

    @property
    def regresses_keypoints(self) -> bool:
        return self.kp_head is not None

    @property
    def reads_reference_pose(self) -> bool:
        return self.ref_in is not None

    def forward(self, music: torch.Tensor, keypoints: bool = False, reference: torch.Tensor | None = None):
        """music (B, F, D) → guidance (B, C_guid, F, S, S), heatmaps (B, C_heat, F, S, S), and with ``keypoints``
        the regressed keypoints (B, C_heat, F, 2) in latent pixels (None without a sequence encoder).
        ``reference`` (B, C_heat, 3): the reference image's keypoints (x, y in latent pixels, visible), read with
        ``reference_pose`` (``reference_mean`` when None) and ignored otherwise."""
        b, f, _ = music.shape
        if f > self.max_frames:
            raise ValueError(f"M2PEnc got {f} frames; its temporal attention covers at most {self.max_frames}")
        x = ((music - self.music_mean) / self.music_std).to(self.proj.weight.dtype)
        kp = None
        if self.ref_in is not None:
            ref = self.reference_mean.expand(b, -1, -1) if reference is None else reference
            ref = ref.to(x.device, torch.float32)
            origin, height, shape = reference_frame(ref, self.size)
            x = self.seq(x, self.ref_in(shape.to(x.dtype)))
            step = self.kp_head(x).view(b, f, self.heat_channels, 2).transpose(1, 2).float()
            kp = ref[:, :, None, :2] + height[:, None, None, None] * step
        elif self.seq is not None:
            x = self.seq(x)
            kp = self.kp_head(x).view(b, f, self.heat_channels, 2).transpose(1, 2)
        x = self.proj(x).view(b * f, 1, self.size, self.size)
        x = F.silu(self.conv_in(x))
        for block in self.blocks:
            x = block(x, f)
        out = unfold(self.guid_head(x), f), unfold(self.heat_head(x), f)
        return (*out, kp) if keypoints else out


class _Sequence(nn.Module):
    """Pre-norm transformer encoder over the frames of a window (learned positions within the window)."""

    def __init__(self, music_dim: int, width: int, layers: int, heads: int, max_frames: int):
        super().__init__()
        self.inp = nn.Linear(music_dim, width)
        self.pos = nn.Parameter(torch.randn(max_frames, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, music: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """(B, F, D) → (B, F, width); ``extra`` (B, width) is added to every frame's input (the reference pose)."""
        x = self.inp(music) + self.pos[: music.shape[1]]
        return self.norm(self.encoder(x if extra is None else x + extra[:, None]))


def reference_frame(ref: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reference keypoints (B, K, 3) in latent pixels → the body's centre (B, 2) (mean of its visible joints), its
    height (B,) (their vertical extent, at least one pixel) and what M2PEnc reads (B, 3K + 3): the joints relative
    to the centre in units of the height (0 where not visible), the visibility, the centre and the height as
    fractions of the ``size``-pixel grid."""
    vis = (ref[..., 2] > 0).float()
    n = vis.sum(1).clamp_min(1)
    centre = (ref[..., :2] * vis[..., None]).sum(1) / n[:, None]
    y = ref[..., 1]
    top = torch.where(vis > 0, y, torch.full_like(y, float("inf"))).amin(1)
    bottom = torch.where(vis > 0, y, torch.full_like(y, float("-inf"))).amax(1)
    height = torch.where(vis.sum(1) > 1, bottom - top, torch.ones_like(top)).clamp_min(1.0)
    rel = (ref[..., :2] - centre[:, None]) / height[:, None, None] * vis[..., None]
    shape = torch.cat([rel.flatten(1), vis, centre / size - 0.5, (height / size)[:, None]], dim=1)
    return centre, height, shape


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


def keypoint_targets(heat_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Target heatmaps (B, K, F, S, S) → keypoints (B, K, F, 2) in latent pixels (their Gaussians' centres) and
    visibility (B, K, F): invisible joints have empty maps."""
    return soft_argmax(heat_target), heat_target.float().amax(dim=(-2, -1)) > 0.5


def m2penc_loss(guid: torch.Tensor, heat: torch.Tensor, guid_target: torch.Tensor, heat_target: torch.Tensor,
                heat_weight: float = 1.0, motion_weight: float = 0.0, keypoints: torch.Tensor | None = None,
                keypoint_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """MSE(guidance, G*) + λ·MSE(heatmaps, H*) + μ·MSE(kinetic profile, its target) + ν·(mean distance of the
    keypoints to their targets over visible joints, latent pixels), parts for logging.

    The motion term is ours (the paper has none): which move a dancer makes is not determined by the music, so
    the pose MSE alone regresses to a near-static mean pose; *when* the body moves and stops is, and the speed
    profile — the same for a move and its mirror image — carries it."""
    lg = F.mse_loss(guid.float(), guid_target.float())
    lh = F.mse_loss(heat.float(), heat_target.float())
    loss, parts = lg + heat_weight * lh, {"guid_mse": lg.detach(), "heat_mse": lh.detach()}
    if motion_weight:
        lm = F.mse_loss(kinetic_profile(heat), kinetic_profile(heat_target))
        loss, parts["motion_mse"] = loss + motion_weight * lm, lm.detach()
    if keypoints is not None:
        xy, vis = keypoint_targets(heat_target)
        dist = (keypoints.float() - xy).norm(dim=-1)
        lk = (dist * vis).sum() / vis.sum().clamp_min(1)
        loss, parts["kp_error"] = loss + keypoint_weight * lk, lk.detach()
    return loss, parts
