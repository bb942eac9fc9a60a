"""Music front-ends: per-frame music features at the model's frame rate.

``edge35`` (default) — the 35-d FACT/EDGE baseline features, in EDGE's order: onset envelope (1), MFCC (20),
chroma_cens (12), onset-peak one-hot (1), beat one-hot (1); librosa with hop 512 and sr = feature_fps·512,
``beat_track(start_bpm, tightness=100)``. EDGE runs at 30 fps. For another model fps we compute at
``k·fps`` (smallest integer k with k·fps ≥ 30, so chroma's CQT stays below Nyquist) and pool k frames:
mean for the continuous columns, max for the one-hot columns. At fps = 30 this is EDGE exactly.

``jukebox`` — Jukebox 5B layer-66 features (T, 4800) at 30 fps, as EDGE extracts them with jukemirlib.
Extracting needs ~10 GB of weights, so this front-end reads features a user precomputed:
``<dir>/<music stem>.npy``, resampled to the model fps by linear interpolation.

Other front-ends plug in with :func:`register_frontend`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from evalkit.errors import EvalkitError

HOP = 512
EDGE_FPS = 30.0
JUKEBOX_FPS = 30.0
JUKEBOX_DIM = 4800
ONE_HOT_COLUMNS = (33, 34)  # onset peaks, beats

def load_mono(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono (channel mean) float32 audio at ``sample_rate`` (soxr_hq, as librosa.load does)."""
    import librosa

    from evalkit.io.audio import decode_audio

    audio = decode_audio(path)
    y = audio.mono().astype(np.float32)
    if audio.sample_rate != sample_rate:
        y = librosa.resample(y, orig_sr=audio.sample_rate, target_sr=sample_rate, res_type="soxr_hq")
    return y


def edge35_features(path: str | Path, fps: float, num_frames: int | None = None,
                    start_bpm: float | None = None) -> np.ndarray:
    """(T, 35) float32 EDGE baseline features at ``fps``; T = ``num_frames`` when given."""
    import librosa

    k = max(1, math.ceil(EDGE_FPS / fps - 1e-9))
    feat_fps = fps * k
    if abs(feat_fps * HOP - round(feat_fps * HOP)) > 1e-6:
        raise EvalkitError(f"model fps {fps:g} gives a non-integer librosa sample rate {feat_fps * HOP:g}",
                           hint="use an fps whose multiple times 512 is an integer (e.g. 10, 24, 30)")
    sr = int(round(feat_fps * HOP))
    y = load_mono(path, sr)
    if y.size < HOP * 4:
        raise EvalkitError("music is too short for feature extraction (< 4 hops)", path=path)
    envelope = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, hop_length=HOP).T
    chroma = librosa.feature.chroma_cens(y=y, sr=sr, hop_length=HOP, n_chroma=12).T
    peaks = librosa.onset.onset_detect(onset_envelope=envelope, sr=sr, hop_length=HOP)
    if start_bpm is None:  # AIST++ music ids carry their tempo (mBR0 → 80 BPM), as EDGE reads them
        from evalkit.audio.beats import aist_tempo_hint

        start_bpm = aist_tempo_hint(Path(path).name)
    if start_bpm is None:  # EDGE estimates it when the name has none; we estimate on the same envelope
        start_bpm = float(librosa.feature.tempo(onset_envelope=envelope, sr=sr, hop_length=HOP)[0])
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=sr, hop_length=HOP, start_bpm=start_bpm,
                                       tightness=100)
    n = min(len(envelope), len(mfcc), len(chroma))
    peak_hot = np.zeros(n, np.float32)
    peak_hot[peaks[peaks < n]] = 1.0
    beat_hot = np.zeros(n, np.float32)
    beat_hot[beats[beats < n]] = 1.0
    feats = np.concatenate([envelope[:n, None], mfcc[:n], chroma[:n], peak_hot[:, None], beat_hot[:, None]],
                           axis=1).astype(np.float32)
    feats = _pool(feats, k)
    return _fit_length(feats, num_frames, path)


def _pool(feats: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return feats
    n = feats.shape[0] // k * k
    if n == 0:
        raise EvalkitError(f"music shorter than one model frame ({k} feature frames)")
    blocks = feats[:n].reshape(n // k, k, feats.shape[1])
    out = blocks.mean(axis=1)
    for col in ONE_HOT_COLUMNS:  # an onset / beat anywhere in the k frames marks the model frame
        out[:, col] = blocks[:, :, col].max(axis=1)
    return out


def _fit_length(feats: np.ndarray, num_frames: int | None, path) -> np.ndarray:
    """Trim to ``num_frames``; one missing trailing frame (rounding of the last hop) repeats the last row.
    More missing frames is an error: the music does not cover the video."""
    if num_frames is None:
        return feats
    short = num_frames - feats.shape[0]
    if short > 1:
        raise EvalkitError(f"music covers {feats.shape[0]} frames but {num_frames} are needed", path=path,
                           hint="use music at least as long as the video")
    if short == 1:
        feats = np.concatenate([feats, feats[-1:]], axis=0)
    return feats[:num_frames]


class JukeboxFeatures:
    """Precomputed Jukebox layer-66 features: ``<root>/<music stem>.npy`` of shape (T, 4800) at 30 fps."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise EvalkitError("Jukebox feature directory not found", path=self.root,
                               hint="extract layer-66 features with jukemirlib (EDGE's recipe) into <stem>.npy files")

    def __call__(self, path: str | Path, fps: float, num_frames: int | None = None, **_) -> np.ndarray:
        file = self.root / f"{Path(path).stem}.npy"
        if not file.is_file():
            raise EvalkitError("no Jukebox features for this music", path=file,
                               hint=f"save a (T, {JUKEBOX_DIM}) layer-66 array at 30 fps under that name")
        feats = np.load(file, allow_pickle=False)
        if feats.ndim != 2 or feats.shape[1] != JUKEBOX_DIM:
            raise EvalkitError(f"expected shape (T, {JUKEBOX_DIM}), got {feats.shape}", path=file)
        feats = resample_linear(feats.astype(np.float32), JUKEBOX_FPS, fps)
        return _fit_length(feats, num_frames, file)


def resample_linear(feats: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation of (T, D) features from ``src_fps`` to ``dst_fps`` on frame times i/fps."""
    if src_fps == dst_fps:
        return feats
    duration = feats.shape[0] / src_fps
    t_dst = np.arange(int(math.floor(duration * dst_fps + 1e-9))) / dst_fps
    t_src = np.arange(feats.shape[0]) / src_fps
    out = np.empty((len(t_dst), feats.shape[1]), np.float32)
    for d in range(feats.shape[1]):
        out[:, d] = np.interp(t_dst, t_src, feats[:, d])
    return out


_FRONTENDS: dict[str, Callable[..., np.ndarray]] = {"edge35": edge35_features}
_DIMS: dict[str, int] = {"edge35": 35, "jukebox": JUKEBOX_DIM}


def register_frontend(name: str, fn: Callable[..., np.ndarray], dim: int) -> None:
    """Plug in a front-end: ``fn(music_path, fps, num_frames) -> (T, dim) float32``."""
    _FRONTENDS[name] = fn
    _DIMS[name] = dim


def frontend_dim(name: str) -> int:
    if name not in _DIMS:
        raise EvalkitError(f"unknown music front-end '{name}'", hint=f"choose from: {', '.join(_DIMS)}")
    return _DIMS[name]


def music_features(path: str | Path, fps: float, num_frames: int | None = None, frontend: str = "edge35",
                   jukebox_dir: str | Path | None = None) -> np.ndarray:
    """(T, D) float32 features of the music at ``path`` with the named front-end."""
    if frontend == "jukebox":
        if jukebox_dir is None:
            raise EvalkitError("the jukebox front-end needs a feature directory", hint="pass --jukebox-dir DIR")
        return JukeboxFeatures(jukebox_dir)(path, fps, num_frames)
    if frontend not in _FRONTENDS:
        raise EvalkitError(f"unknown music front-end '{frontend}'", hint=f"choose from: {', '.join(_DIMS)}")
    return _FRONTENDS[frontend](path, fps, num_frames)
