"""Sampling: the flow ODE per window, and long music as overlapping windows stitched without jumps.

* **Flow matching** (rectified flow): x_t = (1 − t)·noise + t·data, the DiT predicts data − noise; sampling
  integrates from t = 0 (noise) to t = 1 with ``steps`` Euler steps. Classifier-free guidance on music:
  v = v_null + s·(v_music − v_null).
* **Windows** of ``window`` frames; each after the first starts ``window − overlap`` frames after the previous
  start (the last one is aligned to the end, so it may share more). A window's k shared frames are
  *known*: the previous window's latents. They are given to the DiT as context (the mask channel it was
  trained with), and imposed RePaint-style before every Euler step, shared frame j with weight w_j = 1 − j/k
  (the known latent noised to the current t with the frame's own noise), so the new window continues the
  previous one and takes over gradually. The window's final latents are its own.
* **Cross-fade**: every window is decoded to poses; on the shared frames the result is w_j·previous +
  (1 − w_j)·new. It starts at the previous window's pose and reaches the new window's at the first unshared
  frame, so the stitched poses are continuous by construction: a disagreement Δ between the two windows is
  spread over k frames (at most |Δ|/k added to a frame's step) instead of one jump.
* **Noise**: one Gaussian draw for the whole sequence (CPU generator), so shared frames see the same noise in
  both windows and a seed gives the same poses on any device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from evalkit.errors import EvalkitError
from evalkit.models.m2p.windows import windows as window_starts  # the m2p sampler's tiling, one definition

VelocityFn = Callable[..., torch.Tensor]  # (x, t, music, reference, context, context_mask, music_keep) -> v
DecodeFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # latents (n, …) -> (unit, conf)


@dataclass(frozen=True)
class StitchSettings:
    window: int
    overlap: int
    steps: int
    cfg_scale: float = 1.0
    continuation: bool = True  # False: windows sampled independently, cut in the middle of the overlap


def guided(velocity: VelocityFn, x, t, music, reference, context, mask, scale: float):
    """The (guided) velocity for one window; batch 1 in, batch 1 out."""
    tt = torch.full((x.shape[0],), float(t), device=x.device)
    if scale == 1.0:
        return velocity(x, tt, music, reference, context, mask, None)
    keep = torch.tensor([False, True], device=x.device)
    v = velocity(torch.cat([x, x]), tt.repeat(2), torch.cat([music, music]), torch.cat([reference, reference]),
                 torch.cat([context, context]), torch.cat([mask, mask]), keep)
    v_null, v_music = v.chunk(2)
    return v_null + scale * (v_music - v_null)


@torch.no_grad()
def sample_window(velocity: VelocityFn, noise: torch.Tensor, music: torch.Tensor, reference: torch.Tensor,
                  known: torch.Tensor | None, steps: int, cfg_scale: float) -> torch.Tensor:
    """Latents (1, W, …) for one window; ``known`` (1, k, …) are its first k frames' latents, or None."""
    x = noise.clone()
    k = 0 if known is None else known.shape[1]
    context, mask = torch.zeros_like(x), torch.zeros(x.shape[:2], device=x.device, dtype=x.dtype)
    if k:
        context[:, :k] = known
        mask[:, :k] = 1
        w = (1 - torch.arange(k, device=x.device, dtype=x.dtype) / k).view(1, k, *([1] * (x.ndim - 2)))
    ts = torch.linspace(0, 1, steps + 1).tolist()
    for t0, t1 in zip(ts[:-1], ts[1:]):
        if k:
            x[:, :k] = w * ((1 - t0) * noise[:, :k] + t0 * known) + (1 - w) * x[:, :k]
        x = x + (t1 - t0) * guided(velocity, x, t0, music, reference, context, mask, cfg_scale).to(x.dtype)
    return x  # the shared frames are blended once, in pose space (sample_long): one linear ramp, not two


@torch.no_grad()
def sample_long(velocity: VelocityFn, decode: DecodeFn, music: torch.Tensor, reference: torch.Tensor,
                latent_shape: tuple[int, ...], settings: StitchSettings, seed: int = 0,
                progress: Callable[[int, int], None] | None = None) -> dict:
    """Poses for all N frames of ``music`` (N, D).

    Returns unit poses (N, 17, 2), confidences (N, 17), latents (N, …) and the windows used."""
    n = int(music.shape[0])
    if n < 1:
        raise EvalkitError("no music frames to generate poses for")
    device = reference.device
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn((1, n, *latent_shape), generator=gen).to(device, reference.dtype)
    latents = torch.zeros_like(noise)
    unit = torch.zeros(n, 17, 2, device=device)
    conf = torch.zeros(n, 17, device=device)
    wins = window_starts(n, settings.window, settings.overlap)
    prev_end = 0
    for i, (a, e) in enumerate(wins):
        k = prev_end - a if (i and settings.continuation) else 0
        known = latents[:, a:a + k] if k else None
        x = sample_window(velocity, noise[:, a:e], music[None, a:e].to(device), reference[None], known,
                          settings.steps, settings.cfg_scale)
        u, c = decode(x[0])
        if i and not settings.continuation:  # the ablation: hard cut in the middle of the shared frames
            cut = (prev_end - a) // 2
            x, u, c, a = x[:, cut:], u[cut:], c[cut:], a + cut
        elif k:
            w = (1 - torch.arange(k, device=device, dtype=u.dtype) / k)
            u[:k] = w.view(k, 1, 1) * unit[a:a + k] + (1 - w.view(k, 1, 1)) * u[:k]
            c[:k] = w.view(k, 1) * conf[a:a + k] + (1 - w.view(k, 1)) * c[:k]
        latents[:, a:e] = x
        unit[a:e], conf[a:e] = u, c
        prev_end = e
        if progress:
            progress(i + 1, len(wins))
    return {"unit": unit, "conf": conf, "latents": latents[0], "windows": wins}


def retime_poses(poses: np.ndarray, src_fps: float, dst_fps: float, num_frames: int) -> np.ndarray:
    """(n, 17, 3) poses at ``src_fps`` → (num_frames, 17, 3) at ``dst_fps`` (linear interpolation; the last pose
    is held past the end)."""
    pos = np.arange(num_frames) * (src_fps / dst_fps)
    lo = np.minimum(np.floor(pos + 1e-9).astype(int), len(poses) - 1)
    hi = np.minimum(lo + 1, len(poses) - 1)
    w = np.clip(pos - lo, 0, 1)[:, None, None]
    return poses[lo] * (1 - w) + poses[hi] * w


def model_frames(num_frames: int, fps: float, model_fps: float) -> int:
    """Model frames that cover ``num_frames`` video frames at ``fps``."""
    return int(math.floor((num_frames - 1) * model_fps / fps + 1e-6)) + 1


class PosePipeline:
    """A loaded posedit model: music + reference pose → pose sequence in frame pixels."""

    def __init__(self, model, device="cpu", dtype=torch.float32, steps: int | None = None,
                 cfg_scale: float | None = None):
        self.model = model.to(device=device, dtype=dtype).eval()
        self.cfg = model.cfg
        self.device, self.dtype = torch.device(device), dtype
        self.steps = int(steps or self.cfg.steps)
        self.cfg_scale = float(self.cfg.cfg_scale if cfg_scale is None else cfg_scale)

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | None = None, **kw) -> "PosePipeline":
        from .model import DEFAULT_CHECKPOINT, load_checkpoint

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, _ = load_checkpoint(Path(path) if path else DEFAULT_CHECKPOINT)
        return cls(model, device, **kw)

    def settings(self, continuation: bool = True) -> StitchSettings:
        return StitchSettings(self.cfg.window, self.cfg.overlap, self.steps, self.cfg_scale, continuation)

    def reference_latent(self, ref_unit: torch.Tensor, ref_valid: torch.Tensor) -> torch.Tensor:
        from .codec import encode

        maps = encode(ref_unit[None].to(self.device), ref_valid[None].to(self.device), self.cfg.image_size,
                      self.cfg.sigma)
        return self.model.vae.encode(maps.to(self.dtype))[0]

    def decode(self, latents: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        from .codec import decode

        maps = torch.cat([self.model.vae.decode(latents[i:i + chunk]).float() for i in range(0, len(latents), chunk)])
        return decode(maps, self.cfg.sigma)

    @torch.no_grad()
    def poses(self, music: np.ndarray, reference: np.ndarray, ref_conf: np.ndarray | None = None, seed: int = 0,
              continuation: bool = True, progress=None) -> tuple[np.ndarray, dict]:
        """music (N, D) features at the model fps, reference (17, 2) pixels → poses (N, 17, 3) pixels (x, y,
        confidence) and counts."""
        from .codec import Canvas, clip_unit

        cfg = self.cfg
        canvas = Canvas.from_reference(reference, cfg.canvas_torsos)
        conf = np.ones(17) if ref_conf is None else np.asarray(ref_conf, np.float64)
        ref_valid = torch.from_numpy(np.isfinite(reference).all(-1) & (conf >= 0.3))
        ref_unit, clipped = clip_unit(torch.from_numpy(np.nan_to_num(canvas.to_unit(reference))).float(), ref_valid)
        ref_lat = self.reference_latent(ref_unit, ref_valid)
        music_t = torch.as_tensor(np.asarray(music, np.float32), device=self.device).to(self.dtype)
        shape = (cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        dit = self.model.dit

        def velocity(x, t, mus, ref, ctx, mask, keep):
            return dit(x, t, mus, ref, ctx, mask, keep)

        out = sample_long(velocity, self.decode, music_t, ref_lat, shape, self.settings(continuation), seed, progress)
        xy = canvas.to_pixels(out["unit"].double().cpu().numpy())
        poses = np.concatenate([xy, out["conf"].double().cpu().numpy()[..., None]], axis=-1)
        return poses, {"reference_joints_clipped": clipped, "windows": len(out["windows"])}
