"""Appearance and distribution damages of the validity suite: the frames are damaged, the clean clip is the ground
truth. Each damage maps a :class:`~evalkit.sensitivity.damages.Clip` to a damaged copy of the same shape (music
untouched), seeded by the clip's index so that a rerun damages the same way.

Levels are fixed, not tuned: noise σ in 8-bit grey levels (5 ≈ a clean camera, 40 ≈ heavy sensor noise), blur σ
in pixels at the clip's size, JPEG quality as libjpeg's scale (75 is PIL's default, 10 is blocky), and the temporal
damages that keep every frame (shuffle, reversal) or every pixel of a frame (drop/duplicate): frame metrics of a
frame-exact copy and the frame statistics of FID cannot see those, FVD can.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from evalkit.sensitivity.damages import Clip


def _frames(clip: Clip, frames: np.ndarray) -> Clip:
    return replace(clip, frames=np.ascontiguousarray(frames, dtype=np.uint8))


def noise(sigma: float) -> Callable:
    """Additive Gaussian noise of σ grey levels, clipped to [0, 255]."""
    def damage(clip: Clip, clips: list[Clip], index: int) -> Clip:
        rng = np.random.default_rng(index)
        noisy = clip.frames.astype(np.float32) + rng.normal(0.0, sigma, clip.frames.shape).astype(np.float32)
        return _frames(clip, np.clip(np.rint(noisy), 0, 255))
    return damage


def blur(sigma: float) -> Callable:
    """Gaussian blur of σ pixels in both image axes (not across time or channels)."""
    def damage(clip: Clip, clips: list[Clip], index: int) -> Clip:
        from scipy.ndimage import gaussian_filter

        out = gaussian_filter(clip.frames.astype(np.float32), sigma=(0, sigma, sigma, 0), mode="nearest")
        return _frames(clip, np.clip(np.rint(out), 0, 255))
    return damage


def jpeg(quality: int) -> Callable:
    """Every frame JPEG-encoded at ``quality`` (PIL, 4:2:0 subsampling as its default) and decoded."""
    def damage(clip: Clip, clips: list[Clip], index: int) -> Clip:
        import io

        from PIL import Image

        out = []
        for frame in clip.frames:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
            out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
        return _frames(clip, np.stack(out))
    return damage


def shuffle(clip: Clip, clips: list[Clip], index: int) -> Clip:
    """The clip's frames in a random order (every frame kept)."""
    return _frames(clip, clip.frames[np.random.default_rng(index).permutation(len(clip.frames))])


def reverse(clip: Clip, clips: list[Clip], index: int) -> Clip:
    """The clip played backwards."""
    return _frames(clip, clip.frames[::-1])


def drop_duplicate(every: int) -> Callable:
    """Every ``every``-th frame dropped and the frame before it shown twice (a stutter; the length is kept)."""
    def damage(clip: Clip, clips: list[Clip], index: int) -> Clip:
        source = np.arange(len(clip.frames))
        source[every - 1::every] -= 1
        return _frames(clip, clip.frames[source])
    return damage


#: name -> damage, in the order of the table and the figures ("clean" is the clip itself)
APPEARANCE: dict[str, Callable] = {
    "clean": lambda clip, clips, index: clip,
    **{f"noise σ{s}": noise(s) for s in (5, 15, 40)},
    **{f"blur σ{s}": blur(s) for s in (1, 2, 4)},
    **{f"jpeg q{q}": jpeg(q) for q in (75, 30, 10)},
    "shuffle": shuffle,
    "reverse": reverse,
    "drop/dup 1 in 4": drop_duplicate(4),
}
