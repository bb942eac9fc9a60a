"""Long-video sampling: 5-second segments merged into one continuous video.

* **Segments** of ``segment_frames`` (5 s) are sampled one after another. Segment k+1 starts ``carry``
  frames before segment k ends; those frames are known (segment k's final latents) and are imposed at every
  DDIM step RePaint-style — the known latents noised to the current level with the frames' own initial
  noise — so the new segment continues from the old one's last frames ("first-frame continuation").
  Carried frame j (0 ≤ j < c) is imposed with weight 1 − j/c, during sampling and in the result, which
  cross-fades the hand-over instead of leaving a step after the last carried frame.
* **Windows**: inside a segment the denoiser sees windows of ``window`` frames (its motion-module context)
  with ``overlap`` frames shared by neighbours; at every step the v-predictions of overlapping windows are
  averaged (CHAMP/UniAnimate). The last window is aligned to the segment's end.
* **Classifier-free guidance**: unconditional = no reference (zero image embedding, reference bank masked);
  M2PEnc's guidance stays in both halves, as in training's condition dropout.
* **Seeds**: one Gaussian draw for the whole video from a CPU generator, so a seed gives the same video
  on any device and any segment/window layout uses the same per-frame noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from evalkit.errors import EvalkitError

from .scheduler import add_noise, make_scheduler
from .windows import segments, windows


@dataclass(frozen=True)
class LongVideoSettings:
    segment_frames: int
    window: int
    overlap: int
    carry: int
    steps: int
    window_batch: int = 8  # windows denoised in one forward pass

    def check(self) -> None:
        if not 0 <= self.overlap < self.window:
            raise EvalkitError(f"overlap {self.overlap} must be in [0, window {self.window})")
        if not 0 <= self.carry < self.segment_frames:
            raise EvalkitError(f"carry {self.carry} must be in [0, segment {self.segment_frames})")


DenoiseFn = Callable[[torch.Tensor, torch.Tensor, list], torch.Tensor]


@torch.no_grad()
def sample_long(denoise: DenoiseFn, noise: torch.Tensor, settings: LongVideoSettings, scheduler=None,
                continuation: bool = True, progress: Callable[[int, int], None] | None = None,
                prior: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
    """Sample latents of shape ``noise.shape`` = (B, C, N, h, w).

    ``denoise(x, t, starts)`` gets windows stacked along the batch (window-major: x is (len(starts)·B, C, W,
    h, w), window i covering absolute frames starts[i] … starts[i]+W) and returns the (guided) v-prediction.
    ``continuation=False`` samples the segments independently (the ablation the continuity test compares to).
    ``prior`` (B, C, 1, h, w) with ``strength`` < 1 starts every frame from the prior noised to the level
    ``strength`` of the way up the schedule and runs only the remaining steps (SDEdit); strength 1 is pure noise.
    """
    settings.check()
    if not 0 < strength <= 1:
        raise EvalkitError(f"init strength {strength} must be in (0, 1]")
    scheduler = scheduler or make_scheduler()
    scheduler.set_timesteps(settings.steps, device=noise.device)
    skip = settings.steps - max(1, round(strength * settings.steps)) if prior is not None else 0
    timesteps = scheduler.timesteps[skip:]
    b, n = noise.shape[0], noise.shape[2]
    out = torch.empty_like(noise)
    segs = segments(n, settings.segment_frames, settings.carry)
    total_steps, done = len(segs) * len(timesteps), 0
    for k, (a, e) in enumerate(segs):
        c = settings.carry if (k > 0 and continuation) else 0
        known = out[:, :, a:a + c].clone() if c else None
        x = noise[:, :, a:e].clone()
        if skip:
            start = timesteps[0].view(1).expand(b).to(noise.device)
            x = add_noise(scheduler, prior.to(x.dtype).expand_as(x), x, start)
        wins = windows(e - a, settings.window, settings.overlap)
        # hand-over weights: carried frame j follows segment k with weight 1 − j/c (a hard replacement of
        # all c frames leaves a step at frame c; the ramp spreads it — see the README's continuity figures)
        w = (1 - torch.arange(c, device=x.device, dtype=x.dtype) / max(c, 1)).view(1, 1, -1, 1, 1)
        for t in timesteps:
            if c:
                tt = t.view(1).expand(b).to(noise.device)
                x[:, :, :c] = w * add_noise(scheduler, known, noise[:, :, a:a + c], tt) + (1 - w) * x[:, :, :c]
            v = torch.zeros_like(x)
            count = torch.zeros(e - a, device=x.device, dtype=x.dtype)
            for group in _groups(wins, settings.window_batch):
                xs = torch.cat([x[:, :, s:t2] for s, t2 in group], dim=0)
                vs = denoise(xs, t, [a + s for s, _ in group]).to(x.dtype)
                for j, (s, t2) in enumerate(group):
                    v[:, :, s:t2] += vs[j * b:(j + 1) * b]
                    count[s:t2] += 1
            v = v / count.view(1, 1, -1, 1, 1)
            x = scheduler.step(v, t, x).prev_sample
            done += 1
            if progress:
                progress(done, total_steps)
        if known is not None:
            x[:, :, :c] = w * known + (1 - w) * x[:, :, :c]
        out[:, :, a:e] = x
    return out


def _groups(wins, size):
    """Consecutive windows of equal length, at most ``size`` per group (one batched forward each)."""
    group = []
    for w in wins:
        if group and (len(group) == size or (w[1] - w[0]) != (group[0][1] - group[0][0])):
            yield group
            group = []
        group.append(w)
    if group:
        yield group


class M2PSampler:
    """Music features + reference image → video latents and frames with a loaded :class:`M2PModel`."""

    def __init__(self, model, device="cpu", dtype=torch.float32):
        self.model = model.to(device=device, dtype=dtype).eval()
        self.device, self.dtype = torch.device(device), dtype
        self.cfg = model.cfg

    def settings(self, steps: int | None = None) -> LongVideoSettings:
        c = self.cfg
        return LongVideoSettings(c.segment_frames, c.window, c.overlap, c.carry, steps or c.steps, c.window_batch)

    @torch.no_grad()
    def latents(self, music: np.ndarray, reference: torch.Tensor, seed: int = 0, steps: int | None = None,
                cfg_scale: float | None = None, continuation: bool = True, progress=None,
                init_strength: float | None = None, guidance: torch.Tensor | None = None,
                guidance_source: str | None = None, keypoint_anchor: int | None = None,
                reference_keypoints=None) -> torch.Tensor:
        """music (N, D) features at the model fps; reference (3, S, S) in [-1, 1] → latents (1, 4, N, h, w).
        ``init_strength`` < 1 starts from the reference's latent noised to that level (``sample_long``).
        ``guidance`` (1, C_guid, N, h, w) replaces M2PEnc's guidance features (e.g. from rendered maps);
        ``guidance_source="keypoints"`` makes it from M2PEnc's keypoints (``keypoint_guidance``; ``keypoint_anchor``
        overrides the config's readout window; ``reference_keypoints`` (17, 3) in the model's frame map them onto the
        reference's body); with M2PEnc's own guidance, an M2PEnc that reads the reference pose reads them."""
        m, cfg = self.model, self.cfg
        if guidance is None and (guidance_source or cfg.guidance_source) == "keypoints":
            from .keypoint_guidance import keypoint_guidance

            guidance = keypoint_guidance(m, music, keypoint_anchor, reference_keypoints)
        if guidance is not None:  # moved once, not in every window of every step
            guidance = guidance.to(self.device, self.dtype)
        ref_pose = None  # M2PEnc's own guidance: the reference's pose in latent pixels, for an M2PEnc that reads it
        if guidance is None and reference_keypoints is not None and m.m2penc.reads_reference_pose:
            from .data import reference_latent_keypoints

            ref_pose = torch.as_tensor(reference_latent_keypoints(reference_keypoints, (cfg.size, cfg.size),
                                                                  cfg.latent_size), device=self.device)[None]
        scale = cfg.cfg_scale if cfg_scale is None else cfg_scale
        strength = cfg.init_strength if init_strength is None else init_strength
        n = int(music.shape[0])
        feats = torch.as_tensor(music, dtype=torch.float32, device=self.device).unsqueeze(0)
        ctx = m.reference(reference.unsqueeze(0).to(self.device, self.dtype))
        base = dict(m.bank.features)
        guid_cache: dict[tuple[int, int], torch.Tensor] = {}

        def window_guidance(start: int, length: int) -> torch.Tensor:
            if guidance is not None:
                return guidance[:, :, start:start + length]
            key = (start, length)
            if key not in guid_cache:  # M2PEnc does not depend on t: once per window
                guid_cache[key] = m.m2penc(feats[:, start:start + length].to(self.dtype), reference=ref_pose)[0]
            return guid_cache[key]

        def denoise(x, t, starts):
            k, w = len(starts), x.shape[2]
            x = x.to(self.dtype)  # the sampler keeps its latents in float32
            guid = torch.cat([window_guidance(s, w) for s in starts])
            tt = t.to(self.device).view(1)
            if scale == 1.0:
                m.bank.keep = None
                m.bank.features = {kk: v.repeat(k, 1, 1) for kk, v in base.items()}
                return m.denoise(x, tt, ctx.repeat(k, 1, 1), guid)
            m.bank.features = {kk: v.repeat(2 * k, 1, 1) for kk, v in base.items()}
            m.bank.keep = torch.cat([torch.zeros(k, dtype=torch.bool), torch.ones(k, dtype=torch.bool)])
            context = torch.cat([torch.zeros_like(ctx).repeat(k, 1, 1), ctx.repeat(k, 1, 1)])
            v = m.denoise(torch.cat([x, x]), tt, context, torch.cat([guid, guid]))
            v_u, v_c = v.chunk(2)
            return v_u + scale * (v_c - v_u)

        gen = torch.Generator().manual_seed(int(seed))
        shape = (1, cfg.vae["latent_channels"], n, cfg.latent_size, cfg.latent_size)
        noise = torch.randn(shape, generator=gen).to(self.device)
        prior = m.encode(reference.unsqueeze(0).to(self.device, self.dtype)).float()[:, :, None] if strength < 1 else None
        try:
            return sample_long(denoise, noise, self.settings(steps), continuation=continuation, progress=progress,
                               prior=prior, strength=strength)
        finally:
            m.bank.clear()

    @torch.no_grad()
    def round_trip(self, images: torch.Tensor) -> np.ndarray:
        """(N, 3, S, S) in [-1, 1] through the VAE (latent means) and back → uint8 (N, S, S, 3)."""
        z = self.model.encode(images.to(self.device, self.dtype))
        return self.decode(z.transpose(0, 1)[None])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, chunk: int = 32) -> np.ndarray:
        """(1, 4, N, h, w) → uint8 (N, S, S, 3)."""
        z = latents[0].permute(1, 0, 2, 3)
        frames = [self.model.decode(z[i:i + chunk]) for i in range(0, z.shape[0], chunk)]
        x = torch.cat(frames).float().clamp(-1, 1)
        return ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def retime(frames: np.ndarray, src_fps: float, dst_fps: float, num_frames: int) -> np.ndarray:
    """Frames at ``src_fps`` → ``num_frames`` frames at ``dst_fps`` by linear blending of the two nearest."""
    if src_fps == dst_fps and len(frames) >= num_frames:
        return frames[:num_frames]
    pos = np.arange(num_frames) * (src_fps / dst_fps)
    lo = np.minimum(np.floor(pos).astype(int), len(frames) - 1)
    hi = np.minimum(lo + 1, len(frames) - 1)
    w = (pos - lo)[:, None, None, None].astype(np.float32)
    out = frames[lo].astype(np.float32) * (1 - w) + frames[hi].astype(np.float32) * w
    return np.clip(out.round(), 0, 255).astype(np.uint8)


def model_frames(num_frames: int, fps: float, model_fps: float) -> int:
    """Model frames needed so that ``num_frames`` at ``fps`` are covered."""
    return int(math.floor((num_frames - 1) * model_fps / fps + 1e-6)) + 1
