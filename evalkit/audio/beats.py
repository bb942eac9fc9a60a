"""Music beats as the 3D dance references compute them (docs/metric-spec-notes.md §4.1, §4.2), as video frames.

Both references analyse audio at ``sr = fps · hop`` so that one onset-envelope frame is one motion frame:

* ``bailando``: HPSS percussive part, ``onset_strength(aggregate=np.median)``, ``beat_track`` with librosa's
  defaults (start_bpm 120, tightness 100), hop 512.
* ``fact``: the full mix, ``onset_strength`` with its default mean aggregation, ``beat_track`` with a tempo hint
  (``start_bpm``; AIST++ music names give it, see :func:`aist_tempo_hint`), tightness 100, hop 512.

Audio is loaded with librosa.load semantics (channel mean, soxr_hq). Bailando's own loader was essentia's
MonoLoader, whose resampler differs; that is the one documented departure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from evalkit.audio.onsets import load_mono
from evalkit.errors import EvalkitError

PRESETS: dict[str, dict] = {
    "bailando": {"hpss": True, "aggregate": "median", "start_bpm": 120.0, "tightness": 100.0, "hop": 512},
    "fact": {"hpss": False, "aggregate": "mean", "start_bpm": 120.0, "tightness": 100.0, "hop": 512},
}

_AIST_MUSIC = re.compile(r"m(BR|PO|LO|MH|LH|WA|KR|JS|JB|HO)(\d)")


@dataclass
class Beats:
    """Beat times and the video frames they fall on."""

    times: np.ndarray  # (n,) seconds, every beat the tracker returned
    frames: np.ndarray  # (m,) int64 video frame indices round(t·fps), only those inside the video
    dropped: int  # beats past the last video frame (audio longer than the video)
    tempo: float  # BPM estimated by the tracker
    fps: float
    sr: int  # analysis rate fps·hop (rounded)
    preset: str
    settings: dict = field(default_factory=dict)


def aist_tempo_hint(name: str) -> float | None:
    """FACT's start BPM from an AIST++ music name (``mBR0`` → 80, ``mHO3`` → 125); None if none is in ``name``."""
    m = _AIST_MUSIC.search(name)
    if not m:
        return None
    genre, digit = m.group(1), int(m.group(2))
    return float(digit * 5 + 110) if genre == "HO" else float(digit * 10 + 80)


def analysis_rate(fps: float, hop: int = 512) -> int:
    if not fps or fps <= 0:
        raise EvalkitError(f"invalid frame rate {fps}", hint="the video must state a positive fps")
    return int(round(fps * hop))


def times_to_frames(times: np.ndarray, fps: float, num_frames: int | None = None) -> tuple[np.ndarray, int]:
    """Nearest video frame of each time (``round(t·fps)``); frames outside [0, num_frames) are dropped and counted."""
    frames = np.rint(np.asarray(times, dtype=np.float64) * fps).astype(np.int64)
    keep = frames >= 0
    if num_frames is not None:
        keep &= frames < num_frames
    return frames[keep], int((~keep).sum())


def track_beats(y: np.ndarray, sr: int, preset: str = "bailando", **overrides) -> tuple[float, np.ndarray]:
    """(tempo BPM, beat frame indices at hop resolution) of mono ``y`` already at ``sr``."""
    import librosa

    s = _settings(preset, overrides)
    if s["hpss"]:
        y = librosa.effects.hpss(y)[1]
    aggregate = {"median": np.median, "mean": np.mean}[s["aggregate"]]
    env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=s["hop"], aggregate=aggregate)
    tempo, frames = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=s["hop"],
                                            start_bpm=float(s["start_bpm"]), tightness=float(s["tightness"]))
    return float(np.atleast_1d(tempo)[0]), np.asarray(frames, dtype=np.int64)


def music_beats(samples: np.ndarray, sample_rate: int, fps: float, preset: str = "bailando",
                num_frames: int | None = None, path=None, **overrides) -> Beats:
    """Beats of (channels, n) or (n,) samples, analysed at ``fps·hop`` Hz and mapped to video frames.

    At integer fps an analysis frame is exactly one video frame, so ``frames`` equals the tracker's own
    frame indices (as FACT/Bailando use them); otherwise times are rounded to the nearest video frame.
    """
    s = _settings(preset, overrides)
    sr = analysis_rate(fps, s["hop"])
    y = load_mono(samples, sample_rate, sr, path=path)
    tempo, idx = track_beats(y, sr, preset, **overrides)
    times = idx * s["hop"] / sr
    frames, dropped = times_to_frames(times, fps, num_frames)
    return Beats(times, frames, dropped, tempo, float(fps), sr, preset, s)


def beats_for_audio(audio, fps: float, preset: str = "bailando", num_frames: int | None = None, **overrides) -> Beats:
    """:func:`music_beats` of an :class:`evalkit.io.audio.Audio`."""
    return music_beats(audio.samples, audio.sample_rate, fps, preset, num_frames, path=audio.path, **overrides)


def _settings(preset: str, overrides: dict) -> dict:
    if preset not in PRESETS:
        raise EvalkitError(f"unknown beat preset '{preset}'", hint=f"choose one of: {', '.join(PRESETS)}")
    s = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    if s["aggregate"] not in ("median", "mean"):
        raise EvalkitError(f"unknown onset aggregate '{s['aggregate']}'", hint="choose median or mean")
    return s


# --- evaluation against annotations ------------------------------------------------------------------------

def match_events(reference: np.ndarray, estimate: np.ndarray, window: float) -> list[tuple[int, int]]:
    """Largest one-to-one matching of events with ``|ref − est| ≤ window`` (index pairs).

    Each hit window is an interval of the same width, so taking references in time order and giving each the
    earliest still-free estimate inside its window yields a maximum matching (the classic interval argument).
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    r_order, e_order = np.argsort(ref, kind="stable"), np.argsort(est, kind="stable")
    pairs, j = [], 0
    for r in r_order:
        # estimates earlier than this reference's window can serve no later reference either
        while j < len(e_order) and est[e_order[j]] < ref[r] and abs(ref[r] - est[e_order[j]]) > window:
            j += 1
        if j < len(e_order) and abs(ref[r] - est[e_order[j]]) <= window:
            pairs.append((int(r), int(e_order[j])))
            j += 1
    return pairs


def beat_f_measure(reference: np.ndarray, estimate: np.ndarray, window: float = 0.07,
                   min_beat_time: float = 0.0) -> float:
    """Beat-tracking F-measure with a ±``window`` s tolerance; beats before ``min_beat_time`` are ignored
    (mir_eval's evaluate() uses 5 s). 0 when either side is empty."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    ref, est = ref[ref >= min_beat_time], est[est >= min_beat_time]
    if ref.size == 0 or est.size == 0:
        return 0.0
    hits = len(match_events(ref, est, window))
    precision, recall = hits / est.size, hits / ref.size
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def warm_up_jit() -> None:
    """Compile librosa's numba kernels (beat tracking, peak picking) once, in this process.

    librosa caches them on disk (``cache=True``): a parent that calls this before starting scoring workers
    saves each worker the compilation (~10 CPU-s on a cold cache), instead of N workers compiling at once."""
    from evalkit.audio.onsets import onset_times

    sr = 30 * 512
    t = np.arange(3 * sr) / sr
    clicks = (np.sin(2 * np.pi * 880 * t) * np.exp(-40 * (t % 0.5))).astype(np.float32)  # 120 BPM clicks
    for preset in PRESETS:
        track_beats(clicks, sr, preset)
    onset_times(clicks, sr)
