"""The 2D-BeatAlign picture of one video: kinetic velocity (raw and smoothed) over time, motion beats (its
local minima), music beats, and for each music beat the nearest motion beat it was matched to, shaded by its
Gaussian score. ``evalkit plot beats`` and the run report both draw it with :func:`beat_plot`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError


def beat_figure(result: dict, beat_times: np.ndarray, title: str, sigma_s: float):
    """Matplotlib figure of a :func:`evalkit.metrics.beat_align.beat_align_2d` result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kin = result["kinetics"]
    t = np.arange(len(kin.velocity)) / kin.fps  # velocity index i: frame i → i+1, drawn at frame i
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=110)
    ax.plot(t, kin.velocity, color="0.75", lw=1, label="kinetic velocity")
    ax.plot(t, kin.smoothed, color="tab:blue", lw=1.8, label="smoothed")
    motion = result["motion_beats"]
    ax.plot(motion / kin.fps, kin.smoothed[motion], "v", color="tab:blue", ms=7, label="motion beats (minima)")
    top = np.nanmax(kin.velocity) if np.isfinite(kin.velocity).any() else 1.0
    used = set(result["music_beats"].tolist())
    for k, bt in enumerate(beat_times):
        frame = int(round(bt * kin.fps))
        ax.axvline(bt, color="tab:red" if frame in used else "0.6", lw=1, ls="--" if frame in used else ":",
                   label="music beats" if k == 0 else None)
    for k, m in enumerate(result["music_beats"]):  # music beat (top) → the motion beat it found (on the curve)
        if len(motion) == 0:
            break
        d = motion[np.argmin(np.abs(motion - m))]
        score = np.exp(-(((d - m) / kin.fps) ** 2) / (2 * sigma_s ** 2))
        ax.plot([m / kin.fps, d / kin.fps], [1.04 * top, kin.smoothed[d]], color=plt.cm.Greens(0.25 + 0.75 * score),
                lw=2, label="match: music → nearest motion beat (darker = closer)" if k == 0 else None)
    none = ~kin.valid
    if none.any():
        ax.fill_between(t, 0, 1.08 * top, where=none, color="0.9", step="mid", label="no person")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("body sizes / s")
    ax.set_ylim(0, 1.1 * top)
    ax.set_xlim(0, len(kin.velocity) / kin.fps)
    ax.set_title(title, fontsize=9, loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, ncol=6, frameon=False)
    fig.tight_layout()
    return fig


def beat_plot(video: str | Path, audio: str | Path | None = None, preset: str = "bailando", pose: str | None = None):
    """Figure and :func:`evalkit.metrics.beat_align.beat_align_2d` result for ``video`` scored with ``preset``
    (its music: a sidecar, the container, or a file named like it in ``audio``). Poses come from the pose
    cache when the video was scored before, so a report after a run re-extracts nothing."""
    from evalkit.audio.beats import aist_tempo_hint, beats_for_audio
    from evalkit.io.audio import audio_for_video
    from evalkit.io.video import decode_video
    from evalkit.metrics.beat_align import MOTION_TO_MUSIC, MUSIC_TO_MOTION, BeatAlign, beat_align_2d
    from evalkit.pose import extract

    if preset not in BeatAlign.presets:
        raise EvalkitError(f"unknown preset '{preset}'", hint=f"choose one of: {', '.join(BeatAlign.presets)}")
    video = Path(video)
    s = BeatAlign.presets[preset]
    clip = decode_video(video)
    music = audio_for_video(video, Path(audio) if audio else None)
    start_bpm = aist_tempo_hint(f"{video.stem} {music.path.name}") if s["music_beats"] == "fact" else None
    beats = beats_for_audio(music, clip.fps, s["music_beats"], num_frames=clip.num_frames, start_bpm=start_bpm)
    track = extract(clip, backend=pose or s["pose"])
    res = beat_align_2d(track, beats.frames, s["direction"], s["sigma_s"], s["smooth_s"], s["order_s"],
                        s["conf_thresh"])
    kin = res["kinetics"]
    title = (f"{video.name} — 2D-BeatAlign ({preset}): music→motion {res[MUSIC_TO_MOTION]:.3f}, "
             f"motion→music {res[MOTION_TO_MUSIC]:.3f}\n{len(res['music_beats'])} music beats "
             f"({beats.tempo:.0f} BPM), {len(res['motion_beats'])} motion beats · "
             f"no person in {kin.counts['frames_no_person']}/{kin.counts['frames']} frames · "
             f"pose {track.info.get('backend', pose or s['pose'])}")
    fig = beat_figure(res, beats.times[beats.times * clip.fps < clip.num_frames - 0.5], title, s["sigma_s"])
    return fig, res
