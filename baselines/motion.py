"""Motion tools of the baselines: music beats, motion beats, beat-phase time warps, retargeting onto a body.

Beat phase: a time's fractional beat index, linear between detected beats and extended past the first and
last beat with the median beat period. A time warp maps a test time to the source time with the same beat
phase (plus a whole-beat offset), so the source's beats land exactly on the test's beats.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

ANALYSIS_SR = 22050
HOP = 512
FALLBACK_BPM = 120.0  # beat grid used for music in which the tracker finds fewer than two beats (counted)


def load_music(path, seconds: float | None = None) -> np.ndarray:
    """Mono float32 at 22050 Hz (any audio file or video container), cut to ``seconds`` when given."""
    from evalkit.audio.onsets import load_mono
    from evalkit.io.audio import decode_audio

    audio = decode_audio(Path(path))
    y = load_mono(audio.samples, audio.sample_rate, ANALYSIS_SR, path=path)
    if seconds is not None:
        y = y[: int(round(seconds * ANALYSIS_SR))]
    if y.size < HOP * 4:
        raise EvalkitError("music is too short to analyse (under 0.1 s)", path=path)
    return y


def track_beats(y: np.ndarray) -> np.ndarray:
    """Beat times (s) from librosa's default beat tracker (onset envelope, start 120 BPM, tightness 100)."""
    import librosa

    _, beats = librosa.beat.beat_track(y=y, sr=ANALYSIS_SR, hop_length=HOP, units="time")
    return np.asarray(beats, dtype=np.float64)


def usable_beats(beats: np.ndarray, duration: float) -> tuple[np.ndarray, bool]:
    """At least two strictly increasing beats: the tracker's, or a 120 BPM grid from 0 (True = fallback)."""
    beats = np.unique(np.asarray(beats, dtype=np.float64))
    if len(beats) >= 2:
        return beats, False
    period = 60.0 / FALLBACK_BPM
    return np.arange(0.0, max(duration, 2 * period) + period, period), True


def beat_phase(times: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Fractional beat index of each time (beats: increasing, at least two)."""
    times = np.asarray(times, dtype=np.float64)
    period = float(np.median(np.diff(beats)))
    phase = np.interp(times, beats, np.arange(len(beats), dtype=np.float64))
    phase = np.where(times < beats[0], (times - beats[0]) / period, phase)
    return np.where(times > beats[-1], len(beats) - 1 + (times - beats[-1]) / period, phase)


def phase_time(phase: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Inverse of :func:`beat_phase`."""
    phase = np.asarray(phase, dtype=np.float64)
    period = float(np.median(np.diff(beats)))
    times = np.interp(phase, np.arange(len(beats), dtype=np.float64), beats)
    times = np.where(phase < 0, beats[0] + phase * period, times)
    return np.where(phase > len(beats) - 1, beats[-1] + (phase - len(beats) + 1) * period, times)


def kinetic_velocity(joints: np.ndarray) -> np.ndarray:
    """Mean joint speed between consecutive frames (T-1,)."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(axis=-1)


def motion_beats(joints: np.ndarray, fps: float, music_beats: np.ndarray) -> np.ndarray:
    """The dancer's own beats: for each music beat, the nearest local minimum of the kinetic velocity within a
    quarter beat (times of velocity sample i are (i + 0.5)/fps); the music beat itself where there is none."""
    from scipy.ndimage import gaussian_filter1d

    vel = gaussian_filter1d(kinetic_velocity(joints), sigma=max(0.05 * fps, 0.5), mode="nearest")
    i = np.arange(1, len(vel) - 1)
    minima = (i[(vel[i] < vel[i - 1]) & (vel[i] <= vel[i + 1])] + 0.5) / fps
    if len(music_beats) < 2 or len(minima) == 0:
        return np.asarray(music_beats, dtype=np.float64)
    window = 0.25 * float(np.median(np.diff(music_beats)))
    out = []
    for b in music_beats:
        near = minima[np.abs(minima - b) <= window]
        out.append(near[np.argmin(np.abs(near - b))] if len(near) else b)
    return np.maximum.accumulate(np.asarray(out))  # keep them ordered


def sample_frames(joints: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Joints at arbitrary times by linear interpolation between frames (clamped to the clip)."""
    pos = np.clip(np.asarray(times) * fps, 0, len(joints) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(joints) - 1)
    w = (pos - lo)[:, None, None]
    return joints[lo] * (1 - w) + joints[hi] * w


def warp_motion(joints: np.ndarray, fps: float, src_beats: np.ndarray, test_beats: np.ndarray, num_frames: int,
                out_fps: float, blend_beats: float = 0.5) -> tuple[np.ndarray, dict]:
    """Time-warp a source motion (T, J, 3) so its beats fall on ``test_beats``; returns (num_frames, J, 3) at
    ``out_fps`` and {"offset_beats", "loops"}.

    The whole-beat offset puts the test clip's span inside the source's; when the source is too short it
    loops over a window of whole bars (4 beats when it can), cutting on a beat, and cross-fades over
    ``blend_beats`` after each cut from the source's own continuation to the window's start.
    """
    t_out = np.arange(num_frames) / out_fps
    test_phase = beat_phase(t_out, test_beats)
    src_lo = float(beat_phase(np.array([0.0]), src_beats)[0])
    src_hi = float(beat_phase(np.array([(len(joints) - 1) / fps]), src_beats)[0])
    need_lo, need_hi = float(test_phase[0]), float(test_phase[-1])
    offset = np.ceil(src_lo - need_lo)
    if need_hi + offset <= src_hi:  # fits: one pass, no loop
        return sample_frames(joints, fps, phase_time(test_phase + offset, src_beats)), \
            {"offset_beats": int(offset), "loops": 0}
    start = np.ceil(src_lo)
    span = np.floor(src_hi - blend_beats) - start  # keep room for the cross-fade's continuation
    if span < 1:
        raise EvalkitError(f"source motion covers {src_hi - src_lo:.1f} beats, too few to loop",
                           hint="use a longer library clip")
    window = 4 * (span // 4) if span >= 4 else span
    offset = start - np.floor(need_lo)
    rel = test_phase + offset - start
    cycle = np.floor(rel / window)
    local = start + rel - cycle * window
    out = sample_frames(joints, fps, phase_time(local, src_beats))
    since_cut = local - start
    fade = (cycle >= 1) & (since_cut < blend_beats)
    if fade.any():
        carry = sample_frames(joints, fps, phase_time(local[fade] + window, src_beats))
        w = since_cut[fade] / blend_beats
        w = (w * w * (3 - 2 * w))[:, None, None]  # smoothstep: no velocity jump at either end
        out[fade] = carry * (1 - w) + out[fade] * w
    return out, {"offset_beats": int(offset), "loops": int(cycle.max())}


def keep_on_floor(joints: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Shift each frame vertically so its lower foot is at the rest pose's foot height."""
    from evalkit.data.synth.motion import FEET

    lift = joints[:, FEET, 1].min(axis=1) - rest[FEET, 1].min()
    out = joints.copy()
    out[..., 1] -= lift[:, None]
    return out


def retarget(poses: np.ndarray, trans: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Joints (T, 24, 3) of SMPL local rotations (T, 24, 3) axis-angle on the body ``rest`` (24, 3): the
    root keeps its horizontal path (centred on its mean), the lower foot stays on the floor."""
    from evalkit.data.synth.motion import forward_kinematics, offsets_of, rotvec_to_matrices

    root = np.asarray(trans, dtype=np.float64).copy()
    root[:, [0, 2]] -= root[:, [0, 2]].mean(axis=0)
    root[:, 1] = rest[0, 1]
    joints = forward_kinematics(rotvec_to_matrices(np.asarray(poses, np.float64)), root, offsets_of(rest))
    return keep_on_floor(joints, rest)
