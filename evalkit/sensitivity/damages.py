"""Controlled damage to one clip: each damage maps a :class:`Clip` (frames and music) to a damaged copy.

Sync damages keep one side and break its relation to the other: the music delayed by whole frames, another
clip's music, a still frame, random-walk motion (the clip's own frames visited by a random walk in time: real
motion, timed by chance), a still dancer jittering by 1–2 px, tempo-stretched music. Every damage is seeded by
the clip's index, so a rerun damages the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np


@dataclass
class Clip:
    key: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: float
    samples: np.ndarray  # (channels, n) float32 music, as decoded
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


def fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Music cut or padded with silence to ``n`` samples."""
    out = np.zeros((samples.shape[0], n), dtype=np.float32)
    m = min(n, samples.shape[1])
    out[:, :m] = samples[:, :m]
    return out


def delay_audio(frames: int) -> Callable:
    """The music starts ``frames`` video frames late (silence before, cut at the clip's end)."""
    def damage(clip: Clip, clips: list[Clip], index: int) -> Clip:
        pad = int(round(frames / clip.fps * clip.sample_rate))
        shifted = np.concatenate([np.zeros((clip.samples.shape[0], pad), np.float32), clip.samples], axis=1)
        return replace(clip, samples=fit_length(shifted, clip.samples.shape[1]))
    return damage


#: another clip's music is a control only if its tempo differs: within this ratio of 1, 2 or ½ of this clip's
#: tempo the two beat trains stay close to in phase for several beats (SDGPip tempi are drawn per style, so
#: neighbouring clips often share one within 5 %)
TEMPO_MATCH = 1.10


_TEMPI: dict[str, float] = {}  # music sha1 -> tempo: every clip's damage asks for every clip's tempo


def tempo(clip: Clip) -> float:
    """The music's tempo (BPM) as librosa estimates it (its default onset envelope and prior)."""
    import hashlib

    import librosa

    key = hashlib.sha1(np.ascontiguousarray(clip.samples).tobytes()).hexdigest() + str(clip.sample_rate)
    if key not in _TEMPI:
        mono = clip.samples.mean(axis=0)
        _TEMPI[key] = float(np.atleast_1d(librosa.feature.tempo(y=mono, sr=clip.sample_rate))[0])
    return _TEMPI[key]


def tempo_mismatched(a: float, b: float) -> bool:
    """True when tempo b is more than TEMPO_MATCH away from a, a × 2 and a / 2."""
    return all(abs(np.log(b / (a * k))) > np.log(TEMPO_MATCH) for k in (0.5, 1.0, 2.0))


def other_music(clip: Clip, clips: list[Clip], index: int) -> Clip:
    """The music of the next clip (in the source's order) whose tempo is mismatched with this clip's
    (:func:`tempo_mismatched`), fitted to this clip's length; the next clip when none is."""
    tempi = [tempo(c) for c in clips]
    order = [(index + k) % len(clips) for k in range(1, len(clips))]
    donor = clips[next((j for j in order if tempo_mismatched(tempi[index], tempi[j])), order[0])]
    samples = donor.samples
    if donor.sample_rate != clip.sample_rate:
        import librosa

        samples = librosa.resample(samples, orig_sr=donor.sample_rate, target_sr=clip.sample_rate)
    return replace(clip, samples=fit_length(samples.astype(np.float32), clip.samples.shape[1]))


def still_frame(clip: Clip, clips: list[Clip], index: int) -> Clip:
    """The first frame held for the whole clip, with the clip's own music."""
    return replace(clip, frames=np.repeat(clip.frames[:1], len(clip.frames), axis=0))


def still_jitter(clip: Clip, clips: list[Clip], index: int) -> Clip:
    """The first frame held, moved each frame by a random whole-pixel offset in [−2, 2]² (edges repeated): a still
    dancer whose pose jitters by 1–2 px, as a detector's noise does."""
    rng = np.random.default_rng(index)
    padded = np.pad(clip.frames[0], ((2, 2), (2, 2), (0, 0)), mode="edge")
    h, w = clip.frames.shape[1:3]
    offsets = rng.integers(0, 5, size=(len(clip.frames), 2))
    return replace(clip, frames=np.stack([padded[dy:dy + h, dx:dx + w] for dy, dx in offsets]))


def random_walk(clip: Clip, clips: list[Clip], index: int) -> Clip:
    """The clip's frames visited by a reflected random walk in time (steps −1/+1): the dancer's own motion, its
    stops and turns at times that owe nothing to the music."""
    rng = np.random.default_rng(index)
    t, path = 0, []
    for step in rng.choice([-1, 1], size=len(clip.frames)):
        path.append(t)
        t = t + step if 0 <= t + step < len(clip.frames) else t - step
    return replace(clip, frames=clip.frames[np.asarray(path)])


def tempo_stretch(rate: float) -> Callable:
    """The music played ``rate`` times as fast (librosa phase vocoder), fitted to the clip's length."""
    def damage(clip: Clip, clips: list[Clip], index: int) -> Clip:
        import librosa

        stretched = np.stack([librosa.effects.time_stretch(ch, rate=rate) for ch in clip.samples])
        return replace(clip, samples=fit_length(stretched.astype(np.float32), clip.samples.shape[1]))
    return damage


DELAYS = (0, 1, 2, 3, 5, 8, 15)
#: name -> damage, in the order of the table and the figures ("delay 0" is the clip itself)
SYNC: dict[str, Callable] = {
    **{f"delay {d}": delay_audio(d) for d in DELAYS},
    "other music": other_music,
    "still frame": still_frame,
    "still jitter": still_jitter,
    "random walk": random_walk,
    "tempo +10%": tempo_stretch(1.1),
    "tempo -10%": tempo_stretch(0.9),
}
