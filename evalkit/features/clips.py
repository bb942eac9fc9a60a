"""Which frames of a video become I3D clips, per FVD protocol.

Modes:
  * ``windows`` — every window of ``length`` frames starting at 0, stride, 2*stride, ... that fits
    (stride = length: non-overlapping tiles, the ``tf`` default; stride 1: DisCo's sliding windows);
  * ``random``  — one window at a random offset (StyleGAN-V real clips); the offset is drawn from the
    video's content id, so it is the same on every run, shard and machine;
  * ``first``   — one window at offset 0 (StyleGAN-V fake clips);
  * ``whole``   — the whole video as one clip (JH, DisCo's per-GIF clips).

A video too short for a single clip yields no clips; callers count it (it is never dropped silently).
Every clip carries a 52-bit seed derived from the content id and its window, used for the bootstrap
weights and, being exactly representable in float64, as a sortable key.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from evalkit.errors import EvalkitError

MODES = ("windows", "random", "first", "whole")


@dataclass(frozen=True)
class Clip:
    start: int
    length: int
    seed: int  # < 2**52


def _hash52(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 12


def clip_seed(content_id: str, start: int, length: int) -> int:
    return _hash52(f"{content_id}|{start}|{length}")


def random_offset(content_id: str, num_frames: int, length: int) -> int:
    """A reproducible uniform offset in [0, num_frames - length]."""
    rng = np.random.default_rng(_hash52(f"{content_id}|offset|{length}"))
    return int(rng.integers(0, num_frames - length + 1))


def plan_clips(num_frames: int, mode: str, length: int, stride: int, content_id: str,
               min_frames: int = 1) -> list[Clip]:
    """The clips of a video of ``num_frames`` frames ([] when it is too short)."""
    if mode not in MODES:
        raise EvalkitError(f"unknown clip mode '{mode}'", hint=f"choose one of: {', '.join(MODES)}")
    if mode == "whole":
        if num_frames < max(min_frames, 1):
            return []
        return [Clip(0, num_frames, clip_seed(content_id, 0, num_frames))]
    if length < 1 or stride < 1:
        raise EvalkitError(f"clip length and stride must be positive (got {length}, {stride})")
    if num_frames < max(length, min_frames):
        return []
    if mode == "windows":
        starts = range(0, num_frames - length + 1, stride)
    elif mode == "first":
        starts = [0]
    else:
        starts = [random_offset(content_id, num_frames, length)]
    return [Clip(s, length, clip_seed(content_id, s, length)) for s in starts]
