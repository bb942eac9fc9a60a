"""Procedural music with known beats: drum patterns, bass and a chord pad in several genre-like styles.

Everything is numpy and seeded: the same ``rng`` gives the same samples. The beat grid is exact (constant
tempo, 4/4), so the beat and downbeat times saved with a track are its ground truth. Bars vary: some are
breakdowns without kick and bass, every fourth bar ends with a snare fill, so the onset strength (which
the choreography's amplitude follows) changes from bar to bar; each bar has one chord of a four-chord
progression (``Track.chords``, root pitch classes), which picks the bar's move.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 22050
STEPS = 16  # sixteenth notes per 4/4 bar


@dataclass(frozen=True)
class Genre:
    code: str  # two capital letters, used in AIST++-style names (gXX_..._mXXn)
    name: str
    bpm: tuple[float, float]
    kick: str  # 16-step velocity strings, "0".."9" (9 = full)
    snare: str
    hat: str
    open_hat: str = "0" * STEPS
    bass: str = "0" * STEPS
    swing: float = 0.0  # delay of odd sixteenths, as a fraction of a sixteenth
    snare_kind: str = "snare"  # "snare" | "clap" | "rim"
    kick_kind: str = "kick"  # "kick" | "808"
    pad_wave: str = "saw"  # "sine" | "triangle" | "saw"


GENRES: tuple[Genre, ...] = (
    Genre("SH", "house", (118, 130), kick="9000900090009000", snare="0000900000009000",
          hat="0030003000300030", open_hat="0090009000900090", bass="0060006000600060",
          snare_kind="clap", pad_wave="saw"),
    Genre("SB", "boom-bap", (82, 98), kick="9000000090900000", snare="0000900000009000",
          hat="5050505050505050", bass="8000000080800000", swing=0.3, pad_wave="triangle"),
    Genre("SK", "breakbeat", (120, 140), kick="9000000000900000", snare="0000900000009009",
          hat="6060606060606060", open_hat="0000000000000060", bass="8000008000800000", pad_wave="saw"),
    Genre("ST", "trap", (130, 160), kick="9000000000900000", snare="0000000090000000",
          hat="5555555555555555", bass="9000000000900000", kick_kind="808", pad_wave="sine"),
    Genre("SR", "dembow", (88, 102), kick="9000900090009000", snare="0009009000090090",
          hat="4040404040404040", bass="8000800080008000", snare_kind="rim", pad_wave="triangle"),
    Genre("SF", "funk", (100, 120), kick="9000009000900000", snare="0000900000009000",
          hat="6464646464646464", open_hat="0000000000000070", bass="8008008000800800", swing=0.15,
          pad_wave="sine"),
)
GENRE_BY_CODE = {g.code: g for g in GENRES}
BPM_RANGE = (80.0, 160.0)
PAD_GAIN = 0.4  # the chord pad's level against the drums (kick velocity 1.0)


@dataclass
class Track:
    audio: np.ndarray  # float32 (n,) mono, peak 0.9
    sample_rate: int
    bpm: float
    genre: str  # genre code
    beats: np.ndarray  # beat times in seconds (every beat inside the track)
    positions: np.ndarray  # position of each beat in its bar, 1..4 (1 = downbeat)
    bar_level: np.ndarray  # per bar: 1.0 full, 0.5 breakdown (no kick/bass)
    chords: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # per bar: the chord's root pitch class
    info: dict = field(default_factory=dict)

    @property
    def downbeats(self) -> np.ndarray:
        return self.beats[self.positions == 1]

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    def beats_text(self) -> str:
        """madmom-style downbeat annotation: one 'time<TAB>position' line per beat. Times are written as
        the shortest decimal that reads back to the same float, so parse_beats returns them exactly."""
        return "".join(f"{float(t)!r}\t{int(p)}\n" for t, p in zip(self.beats, self.positions))


def parse_beats(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of Track.beats_text: (times, positions)."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    times = np.array([float(r[0]) for r in rows], dtype=np.float64)
    positions = np.array([int(r[1]) if len(r) > 1 else 0 for r in rows], dtype=np.int64)
    return times, positions


# ---------------------------------------------------------------------------------------------- sounds
def _env(n: int, sr: int, decay_s: float, attack_s: float = 0.001) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)


def _shaped_noise(rng, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    # band-limited noise by zeroing FFT bins: short buffers, so this is cheap and exact
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spec[(freqs < lo) | (freqs > hi)] = 0
    out = np.fft.irfft(spec, n)
    return out / (np.abs(out).max() + 1e-9)


def _kick(rng, sr, t: dict) -> np.ndarray:
    n = int(sr * t["kick_decay"] * 5)
    time = np.arange(n) / sr
    f = t["kick_f0"] * (1 + 2.5 * np.exp(-time / 0.03))  # pitch drop gives the click + body
    phase = 2 * np.pi * np.cumsum(f) / sr
    return np.sin(phase) * _env(n, sr, t["kick_decay"])


def _808(rng, sr, t: dict) -> np.ndarray:
    n = int(sr * 0.9)
    time = np.arange(n) / sr
    f = t["kick_f0"] * (1 + 1.2 * np.exp(-time / 0.02))
    return np.tanh(2.0 * np.sin(2 * np.pi * np.cumsum(f) / sr)) * _env(n, sr, 0.35)


def _snare(rng, sr, t: dict) -> np.ndarray:
    n = int(sr * 0.25)
    time = np.arange(n) / sr
    body = np.sin(2 * np.pi * t["snare_tone"] * time) * _env(n, sr, 0.04)
    noise = _shaped_noise(rng, n, sr, 1500, 9000) * _env(n, sr, t["snare_decay"])
    return 0.5 * body + 0.8 * noise


def _clap(rng, sr, t: dict) -> np.ndarray:
    n = int(sr * 0.3)
    noise = _shaped_noise(rng, n, sr, 800, 6000)
    env = np.zeros(n)
    for k, delay in enumerate((0.0, 0.011, 0.022)):  # three quick bursts, then a tail
        start = int(delay * sr)
        env[start:] += _env(n - start, sr, 0.008 if k < 2 else t["snare_decay"])
    return noise * env


def _rim(rng, sr, t: dict) -> np.ndarray:
    n = int(sr * 0.08)
    time = np.arange(n) / sr
    return (np.sin(2 * np.pi * 1700 * time) + 0.5 * np.sin(2 * np.pi * 820 * time)) * _env(n, sr, 0.012)


def _hat(rng, sr, t: dict, decay: float) -> np.ndarray:
    n = int(sr * decay * 5)
    return _shaped_noise(rng, n, sr, t["hat_lo"], 10500) * _env(n, sr, decay)


def _wave(kind: str, phase: np.ndarray) -> np.ndarray:
    if kind == "sine":
        return np.sin(phase)
    frac = (phase / (2 * np.pi)) % 1.0
    if kind == "triangle":
        return 4 * np.abs(frac - 0.5) - 1
    return 2 * frac - 1  # saw


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


# ---------------------------------------------------------------------------------------------- track
def _velocities(pattern: str) -> np.ndarray:
    return np.array([int(c) / 9.0 for c in pattern])


def _place(out: np.ndarray, sound: np.ndarray, start: int, gain: float) -> None:
    if start >= out.shape[0] or gain <= 0:
        return
    end = min(out.shape[0], start + sound.shape[0])
    out[start:end] += gain * sound[: end - start]


def synth_track(rng: np.random.Generator, seconds: float, genre: str | None = None, bpm: float | None = None,
                sample_rate: int = SAMPLE_RATE) -> Track:
    """One procedural track of ``seconds`` with a constant tempo (80–160 BPM) and exact beat times."""
    g = GENRE_BY_CODE[genre] if genre else GENRES[int(rng.integers(len(GENRES)))]
    if bpm is None:
        bpm = float(rng.uniform(*g.bpm))
    bpm = float(np.clip(round(bpm, 2), *BPM_RANGE))
    sr = sample_rate
    n = int(round(seconds * sr))
    beat_s = 60.0 / bpm
    step_s = beat_s / 4
    # the first downbeat is not at 0, so beats are not trivially aligned with frame 0
    t0 = float(np.round(rng.uniform(0.05, 0.5) * 1000) / 1000)
    timbre = {
        "kick_f0": float(rng.uniform(45, 65)), "kick_decay": float(rng.uniform(0.12, 0.3)),
        "snare_tone": float(rng.uniform(160, 240)), "snare_decay": float(rng.uniform(0.08, 0.18)),
        "hat_lo": float(rng.uniform(5000, 8000)),
    }
    kick = (_808 if g.kick_kind == "808" else _kick)(rng, sr, timbre)
    snare = {"snare": _snare, "clap": _clap, "rim": _rim}[g.snare_kind](rng, sr, timbre)
    hat, open_hat = _hat(rng, sr, timbre, 0.012), _hat(rng, sr, timbre, 0.07)

    # bars start at the first downbeat t0; one spare bar is cut at the end
    n_bars = int(np.ceil((seconds - t0) / (4 * beat_s))) + 1
    bar_level = np.ones(n_bars)
    for b in range(2, n_bars):  # breakdowns: never the first two bars, never twice in a row
        if bar_level[b - 1] == 1.0 and rng.random() < 0.15:
            bar_level[b] = 0.5
    kv, sv, hv = _velocities(g.kick), _velocities(g.snare), _velocities(g.hat)
    ov, bv = _velocities(g.open_hat), _velocities(g.bass)
    drums = np.zeros(n)
    bass = np.zeros(n)
    root = float(rng.integers(36, 44))  # bass key (MIDI)
    progression = [0, int(rng.choice([3, 5, 7, 8])), int(rng.choice([5, 7, 10])), int(rng.choice([2, 3, 5, 7]))]
    minor = bool(rng.random() < 0.6)
    bass_wave = "saw" if rng.random() < 0.5 else "sine"
    chord_of_bar = [root + progression[b % 4] for b in range(n_bars)]  # MIDI root note of each bar's chord
    for b in range(n_bars):
        full = bar_level[b] == 1.0
        fill = b % 4 == 3
        chord = chord_of_bar[b]
        for s in range(STEPS):
            swing = g.swing * step_s if s % 2 == 1 else 0.0
            start = int(round((t0 + (b * STEPS + s) * step_s + swing) * sr))
            jitter = 1.0 + 0.08 * (rng.random() - 0.5)  # humanised velocities
            if full:
                _place(drums, kick, start, kv[s] * jitter)
            snare_v = sv[s] if not (fill and s >= 12) else 0.55 + 0.15 * (s - 12)
            _place(drums, snare, start, 0.5 * snare_v * jitter)
            _place(drums, hat, start, 0.25 * hv[s] * jitter)
            _place(drums, open_hat, start, 0.3 * ov[s] * jitter)
            if full and bv[s] > 0:
                dur = int(step_s * 1.6 * sr)
                time = np.arange(dur) / sr
                note = _wave(bass_wave, 2 * np.pi * _midi_hz(chord) * time) * _env(dur, sr, step_s * 0.8, 0.004)
                _place(bass, note, start, 0.45 * bv[s])
    # chord pad: one chord per bar, sustained. Loud enough that chroma features name the chord (a triad template
    # on the bar's mean chroma_cens: 30 of 32 bars at gain 0.4, 12 of 32 at the old quiet 0.06 decaying over
    # one bar), because the choreography follows the chords.
    pad = np.zeros(n)
    bar_n = int(round(4 * beat_s * sr))
    time = np.arange(bar_n) / sr
    # 10 ms attack and 100 ms release: a slow attack at this level pulled librosa's beat tracker off the phase
    # (house and breakbeat F-measure 0.13–0.46 at a 0.25 s attack), a hard cut at the bar's end clicked
    attack = np.minimum(time / 0.01, 1.0) * np.exp(-time / (16 * beat_s)) * np.clip((time[-1] - time) / 0.1, 0, 1)
    third = 3 if minor else 4
    for b in range(n_bars):
        start = int(round((t0 + b * 4 * beat_s) * sr))
        base = chord_of_bar[b] + 24
        tone = sum(_wave(g.pad_wave, 2 * np.pi * _midi_hz(base + iv) * time * (1 + 0.002 * k))
                   for k, iv in enumerate((0, third, 7)))
        _place(pad, tone * attack, start, PAD_GAIN)
    audio = drums + bass + pad
    audio = (0.9 * audio / (np.abs(audio).max() + 1e-9)).astype(np.float32)

    k = np.arange(int(np.floor((seconds - t0) / beat_s)) + 1)
    beats = t0 + k * beat_s
    keep = beats < seconds
    beats, k = beats[keep], k[keep]
    return Track(audio=audio, sample_rate=sr, bpm=bpm, genre=g.code, beats=beats, positions=(k % 4) + 1,
                 bar_level=bar_level, chords=np.array([int(c) % 12 for c in chord_of_bar]),
                 info={"genre_name": g.name, "first_beat": t0, "minor": minor, **timbre})


def onset_strength(audio: np.ndarray, sample_rate: int, times: np.ndarray, n_fft: int = 1024,
                   hop: int = 256) -> np.ndarray:
    """Spectral-flux onset strength (log magnitude, half-wave rectified, summed over bins) at ``times``."""
    audio = np.asarray(audio, dtype=np.float64)
    pad = np.concatenate([np.zeros(n_fft // 2), audio, np.zeros(n_fft // 2)])
    n_frames = 1 + (pad.shape[0] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    mag = np.abs(np.fft.rfft(pad[idx] * np.hanning(n_fft), axis=1))
    logmag = np.log1p(100.0 * mag)
    flux = np.maximum(np.diff(logmag, axis=0, prepend=logmag[:1]), 0).sum(axis=1)
    frame_t = np.arange(n_frames) * hop / sample_rate
    return np.interp(times, frame_t, flux)


def beat_strength(track: Track, window_s: float = 0.05) -> np.ndarray:
    """Per-beat accent in [0.3, 1]: the strongest onset within ±window of each beat, relative to the track."""
    offsets = np.linspace(-window_s, window_s, 9)
    env = onset_strength(track.audio, track.sample_rate, (track.beats[:, None] + offsets[None, :]).ravel())
    per_beat = env.reshape(len(track.beats), -1).max(axis=1)
    ref = np.percentile(per_beat, 90) if per_beat.size else 1.0
    return np.clip(per_beat / (ref + 1e-9), 0.3, 1.0)
