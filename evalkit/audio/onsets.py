"""Audio onsets as TempoTokens' AV-Align finds them (docs/metric-spec-notes.md §5).

The reference calls ``librosa.load(wav)`` (mono by channel mean, resampled to 22050 Hz with soxr_hq) and
then ``onset_strength`` + ``onset_detect`` with librosa's defaults. We do the same on the samples we
already decoded, so no temporary WAV is written; tests check this equals the WAV route bit for bit.
"""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError

#: librosa.load's default rate, which the AV-Align reference relies on
AV_ALIGN_SR = 22050
HOP = 512


def load_mono(samples: np.ndarray, sample_rate: int, sr: int | None = AV_ALIGN_SR, path=None) -> np.ndarray:
    """``librosa.load(path, sr=sr)`` on already-decoded samples: float32, mean over channels, soxr_hq resampling.

    ``samples`` is (channels, n) or (n,) at ``sample_rate``; ``sr=None`` keeps the native rate.
    """
    import librosa

    y = np.asarray(samples, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0)  # librosa.to_mono
    if y.ndim != 1 or y.size == 0:
        raise EvalkitError("audio has no samples", path=path, hint="check the music file or the video's audio track")
    if sr is not None and int(sr) != int(sample_rate):
        y = librosa.resample(y, orig_sr=int(sample_rate), target_sr=int(sr), res_type="soxr_hq")
    return y


def onset_times(y: np.ndarray, sr: int = AV_ALIGN_SR, hop: int = HOP) -> np.ndarray:
    """Onset times (s): mel-flux onset envelope and librosa's default peak picking (normalised envelope,
    delta 0.07, waits and windows derived from sr/hop), no backtracking."""
    import librosa

    env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    frames = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=hop)
    return librosa.frames_to_time(frames, sr=sr, hop_length=hop).astype(np.float64)


def audio_peaks(audio) -> np.ndarray:
    """AV-Align audio peaks (s) of an :class:`evalkit.io.audio.Audio`."""
    y = load_mono(audio.samples, audio.sample_rate, AV_ALIGN_SR, path=audio.path)
    return onset_times(y, AV_ALIGN_SR, HOP)
