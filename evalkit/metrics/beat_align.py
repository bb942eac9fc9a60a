"""BeatAlign: does the dancer move on the music's beats (docs/metric-spec-notes.md §4).

Functional core:
* :func:`fact_beat_align` — FACT / AI Choreographer (MINT ``calculate_beat_scores.py``), 3D joints, motion → music.
* :func:`bailando_beat_align` — Bailando (``utils/beat_align_score.py``), 3D joints, music → motion.
* :func:`beat_align_2d` — evalkit's 2D-BeatAlign on a video's :class:`~evalkit.pose.PoseTrack` (§4.3, defined in
  docs/sync.md): scale-normalised body joints, low-confidence joints interpolated, frames without a
  person excluded and counted, Gaussian-smoothed kinetic velocity with σ in seconds, motion beats = local
  minima, scored in both directions with σ in seconds.

:class:`BeatAlign` streams 2D-BeatAlign over scored videos (pose extracted from the generated video, music
beats from its audio).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from evalkit.metrics.base import Metric
from evalkit.metrics.movement import STILL_SPEED, movement
from evalkit.metrics.sync_null import (MIN_DRAWS, NULL_SETTINGS, NULL_STATES, canonical_order, circular_shifts,
                                       content_seed, cross_summary, declare, draw_offsets, lift_and_z, pad, push,
                                       stored, stouffer, summarize, unpack, with_ci)
from evalkit.pose.cache import frames_sha256
from evalkit.options import Spec

MUSIC_TO_MOTION = "music_to_motion"  # Bailando: every music beat looks for the nearest motion beat
MOTION_TO_MUSIC = "motion_to_music"  # FACT: every motion beat looks for the nearest music beat
DIRECTIONS = (MUSIC_TO_MOTION, MOTION_TO_MUSIC)


# --- shared pieces -----------------------------------------------------------------------------------------

def _local_minima(x: np.ndarray, order: int = 1) -> np.ndarray:
    """Indices that are strictly smaller than every neighbour within ±order (scipy argrelextrema, np.less)."""
    from scipy.signal import argrelextrema

    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    return argrelextrema(np.asarray(x), np.less, order=int(order))[0].astype(np.int64)


def nearest_gaussian_score(queries: np.ndarray, targets: np.ndarray, sigma: float) -> np.ndarray:
    """For each query, ``exp(−d²/(2σ²))`` with d the distance to the nearest target (same units as σ)."""
    q = np.asarray(queries, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    if q.size == 0 or t.size == 0:
        return np.zeros(0) if q.size == 0 else np.full(q.size, np.nan)
    return gaussian(np.abs(q[:, None] - t[None, :]).min(axis=1), sigma)


def gaussian(d: np.ndarray, sigma: float) -> np.ndarray:
    """The references' score of a distance d to the nearest beat: ``exp(−d²/(2σ²))``."""
    return np.exp(-(d ** 2) / (2 * sigma ** 2))


def _as_indices(beats: np.ndarray) -> np.ndarray:
    """Beat frame indices from integer indices, or from a per-frame bool / float 0-1 column (the references
    store beats as a float one-hot feature column)."""
    b = np.asarray(beats).reshape(-1)
    if b.dtype == bool or b.dtype.kind == "f":
        return np.flatnonzero(b).astype(np.int64)
    return b.astype(np.int64)


# --- 3D references -------------------------------------------------------------------------------------------

def fact_motion_beats(joints: np.ndarray, order: int = 10) -> np.ndarray:
    """FACT motion beats: v_t = p_t − p_{t−1} (v_0 = 0, float32 as the reference), e_t = Σ_j ||v_{t,j}||,
    strict minima of e within ±order frames (10 at 60 fps)."""
    p = np.asarray(joints)
    vel = np.zeros(p.shape, dtype=np.float32)
    vel[1:] = p[1:] - p[:-1]
    envelope = np.linalg.norm(vel, axis=2).sum(axis=1)
    return _local_minima(envelope, order)


def fact_beat_align(joints: np.ndarray, music_beats: np.ndarray, sigma: float = 3.0, order: int = 10,
                    seed_frames: int = 0) -> float:
    """FACT BeatAlign (motion → music) of joints (T, J, 3) at 60 fps and music beat frames.

    ``music_beats``: frame indices, or FACT's one-hot column. Generated sequences drop a 120-frame seed from
    both (``seed_frames=120``). 0 when there is no motion beat (as the reference); NaN when there is no music
    beat (the reference fails on an empty argmin).
    """
    motion = fact_motion_beats(joints, order)
    music = _as_indices(music_beats)
    music = music[(music >= seed_frames) & (music < len(joints))]  # the one-hot column is cut to T frames
    motion = motion[motion >= seed_frames]
    if motion.size == 0:
        return 0.0
    if music.size == 0:
        return float("nan")
    return float(nearest_gaussian_score(motion, music, sigma).mean())


def bailando_motion_beats(joints: np.ndarray, smooth: float = 5.0) -> tuple[np.ndarray, int]:
    """Bailando motion beats and the velocity length T−1: k_t = mean_j ||p_{t+1,j} − p_{t,j}||, Gaussian
    smoothed (σ = 5 frames, scipy 'reflect', truncate 4), strict local minima (order 1)."""
    from scipy.ndimage import gaussian_filter

    p = np.asarray(joints)
    p = p.reshape(len(p), -1, 3) if p.ndim == 2 else p
    k = np.sqrt(((p[1:] - p[:-1]) ** 2).sum(axis=2)).mean(axis=1)
    return _local_minima(gaussian_filter(k, smooth) if smooth else k, 1), len(k)


def bailando_beat_align(joints: np.ndarray, music_beats: np.ndarray, sigma: float = 3.0, smooth: float = 5.0) -> float:
    """Bailando BeatAlign (music → motion) of joints (T, 24, 3) or (T, 72) at 60 fps and music beat frames.

    Music beats past the velocity length T−1 are cut (the reference truncates its beat column). NaN when there
    is no motion beat or no music beat (the reference fails there).
    """
    motion, length = bailando_motion_beats(joints, smooth)
    music = _as_indices(music_beats)
    music = music[(music >= 0) & (music < length)]
    if motion.size == 0 or music.size == 0:
        return float("nan")
    return float(nearest_gaussian_score(music, motion, sigma).mean())


# --- 2D-BeatAlign on video ------------------------------------------------------------------------------------

# COCO-17 indices of the torso corners
_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP = 5, 6, 11, 12


@dataclass
class Kinetics2D:
    """Kinetic velocity of one video and what was done to get it (everything counted)."""

    velocity: np.ndarray  # (T−1,) body sizes per second between frames t and t+1; NaN where not defined
    smoothed: np.ndarray  # (T−1,) Gaussian-smoothed velocity (within runs of valid frames); NaN elsewhere
    motion_beats: np.ndarray  # indices t into velocity (frame t → t+1) that are local minima
    valid: np.ndarray  # (T−1,) bool: a person in frames t and t+1
    fps: float
    scale_px: float  # body size used for normalisation (pixels); NaN when no person
    scale_source: str  # "torso" | "bbox" | "none"
    counts: dict = field(default_factory=dict)


def body_scale(joints: np.ndarray, conf: np.ndarray, present: np.ndarray, conf_thresh: float) -> tuple[float, str]:
    """Per-video body size (px): median over frames of the torso length (mid-shoulder to mid-hip) where all four
    torso joints are confident; if no frame has them, the median height of the confident joints' bounding box."""
    ok = present[:, None] & (conf >= conf_thresh) & np.isfinite(joints).all(axis=2)
    torso = ok[:, [_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP]].all(axis=1)
    if torso.any():
        sh = (joints[torso, _L_SHOULDER] + joints[torso, _R_SHOULDER]) / 2
        hp = (joints[torso, _L_HIP] + joints[torso, _R_HIP]) / 2
        size = float(np.median(np.linalg.norm(sh - hp, axis=1)))
        if size > 0:
            return size, "torso"
    heights = [np.ptp(joints[t, ok[t], 1]) for t in np.flatnonzero(ok.sum(axis=1) >= 2)]
    heights = [h for h in heights if h > 0]
    if heights:
        return float(np.median(heights)), "bbox"
    return float("nan"), "none"


def _fill_joints(joints: np.ndarray, conf: np.ndarray, present: np.ndarray, conf_thresh: float):
    """Linear interpolation over time of low-confidence joints within frames that show a person; a joint is
    held at its nearest confident value before its first / after its last confident frame. Joints never
    confident are dropped. Returns (filled (T,J,2), kept joint mask (J,), filled count)."""
    filled = np.full(joints.shape, np.nan)
    keep = np.zeros(joints.shape[1], dtype=bool)
    n_filled = 0
    frames = np.flatnonzero(present)
    for j in range(joints.shape[1]):
        good = present & (conf[:, j] >= conf_thresh) & np.isfinite(joints[:, j]).all(axis=1)
        if not good.any():
            continue
        keep[j] = True
        g = np.flatnonzero(good)
        for c in range(joints.shape[2]):
            filled[frames, j, c] = np.interp(frames, g, joints[g, j, c])
        n_filled += int(len(frames) - len(g))
    return filled, keep, n_filled


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each maximal run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def kinetics_2d(track, conf_thresh: float = 0.3, smooth_s: float = 5 / 60, order_s: float | None = None) -> Kinetics2D:
    """Kinetic velocity and motion beats of a :class:`~evalkit.pose.PoseTrack` (see docs/sync.md).

    ``smooth_s``: Gaussian σ in seconds (Bailando: 5 frames at 60 fps; 0 = none). ``order_s``: a minimum must be
    strictly lowest within ±order_s seconds (None: immediate neighbours only, as Bailando; FACT: 10/60 s).
    Smoothing and minima are taken within each run of frames that show a person, never across a gap.
    """
    from scipy.ndimage import gaussian_filter1d

    fps = float(track.fps)
    joints = np.asarray(track.joints, dtype=np.float64)[..., :2]
    conf = np.asarray(track.conf, dtype=np.float64)
    present = np.asarray(track.present, dtype=bool) & (conf >= conf_thresh).any(axis=1)
    T = len(joints)
    scale, source = body_scale(joints, conf, present, conf_thresh)
    filled, keep, n_filled = _fill_joints(joints, conf, present, conf_thresh)
    valid = present[:-1] & present[1:] if T > 1 else np.zeros(0, dtype=bool)
    if not np.isfinite(scale) or not keep.any():
        valid[:] = False
    velocity = np.full(max(T - 1, 0), np.nan)
    if valid.any():
        p = filled[:, keep] / scale
        step = np.linalg.norm(p[1:] - p[:-1], axis=2).mean(axis=1) * fps
        velocity[valid] = step[valid]
    smoothed = np.full_like(velocity, np.nan)
    beats = []
    sigma_f = smooth_s * fps
    order = max(1, int(round(order_s * fps))) if order_s else 1
    for a, b in _runs(valid):
        seg = velocity[a:b]
        seg = gaussian_filter1d(seg, sigma_f, mode="reflect", truncate=4.0) if sigma_f > 0 else seg
        smoothed[a:b] = seg
        beats.append(_local_minima(seg, order) + a)
    counts = {"frames": T, "frames_no_person": int(T - present.sum()), "joints_interpolated": n_filled,
              "joints_dropped": int((~keep).sum())}
    motion = np.concatenate(beats) if beats else np.zeros(0, dtype=np.int64)
    return Kinetics2D(velocity, smoothed, motion, valid, fps, scale, source, counts)


def beat_align_2d(track, music_beats: np.ndarray, direction: str = MUSIC_TO_MOTION, sigma_s: float = 0.05,
                  smooth_s: float = 5 / 60, order_s: float | None = None, conf_thresh: float = 0.3,
                  still_speed: float = STILL_SPEED) -> dict:
    """2D-BeatAlign of one video: its PoseTrack and the music beats as video frame indices.

    Returns ``beat_align`` (the chosen direction), both directions, the beats used and the counts of what
    was excluded. A music beat is used when the velocity at its frame is defined (a person in that frame
    and the next); beats elsewhere are excluded and counted. NaN when a direction has nothing to score.

    Still-video policy (docs/sync.md): when the dancer's median speed is below ``still_speed`` body heights per
    second (evalkit.metrics.movement) both directions are NaN and ``still`` is True — the minima of a still
    frame are the detector's jitter, not motion beats (BlazePose on a held frame: 0.005; dancers ≥ 0.18 at
    their 10th percentile). ``still_speed=0`` turns the policy off.
    """
    if direction not in DIRECTIONS:
        from evalkit.errors import EvalkitError

        raise EvalkitError(f"unknown BeatAlign direction '{direction}'", hint=f"choose {' or '.join(DIRECTIONS)}")
    kin = kinetics_2d(track, conf_thresh, smooth_s, order_s)
    music = _as_indices(music_beats)
    inside = (music >= 0) & (music < len(kin.valid))
    usable = music[inside][kin.valid[music[inside]]]
    sigma_f = sigma_s * kin.fps  # distances are in frames; σ in seconds times fps
    scores = {MUSIC_TO_MOTION: float("nan"), MOTION_TO_MUSIC: float("nan")}
    moves = movement(kin, track, conf_thresh, still_speed)
    still = bool(moves["speed"] < still_speed)  # False when NaN (no person: undefined for that reason)
    if usable.size and kin.motion_beats.size and not still:  # each direction needs beats on both sides
        scores[MUSIC_TO_MOTION] = float(nearest_gaussian_score(usable, kin.motion_beats, sigma_f).mean())
        scores[MOTION_TO_MUSIC] = float(nearest_gaussian_score(kin.motion_beats, usable, sigma_f).mean())
    return {
        "beat_align": scores[direction],
        MUSIC_TO_MOTION: scores[MUSIC_TO_MOTION],
        MOTION_TO_MUSIC: scores[MOTION_TO_MUSIC],
        "music_beats": usable,
        "motion_beats": kin.motion_beats,
        "music_beats_excluded": int(music.size - usable.size),
        "kinetics": kin,
        "movement": moves,
        "still": still,
    }


def beat_align_batch(music: np.ndarray, mask: np.ndarray, motion_beats: np.ndarray, valid: np.ndarray,
                     sigma_f: float) -> np.ndarray:
    """Both directions of 2D-BeatAlign for K music beat trains at once (the nulls): ``music`` (K, n) frame
    indices with ``mask`` marking real entries, one video's motion beats and valid mask (Kinetics2D), σ in
    frames. Returns (K, 2): [music → motion, motion → music], with :func:`beat_align_2d`'s rules (a beat is used
    where the velocity is defined; NaN when a row has no usable beat or there is no motion beat)."""
    music = np.asarray(music, dtype=np.int64)
    inside = np.asarray(mask, dtype=bool) & (music >= 0) & (music < len(valid))
    usable = inside.copy()
    usable[inside] = np.asarray(valid, dtype=bool)[music[inside]]
    out = np.full((len(music), 2), np.nan)
    motion = np.asarray(motion_beats, dtype=np.float64)
    n_use = usable.sum(axis=1)
    rows = n_use > 0
    if motion.size == 0 or not rows.any():
        return out
    d = np.abs(music[rows][:, :, None] - motion[None, None, :])  # (k, n, motion)
    use = usable[rows]
    out[rows, 0] = np.where(use, gaussian(d.min(axis=2), sigma_f), 0.0).sum(axis=1) / n_use[rows]
    out[rows, 1] = gaussian(np.where(use[:, :, None], d, np.inf).min(axis=1), sigma_f).mean(axis=1)
    return out


def shift_null_2d(kin: Kinetics2D, music_frames: np.ndarray, num_frames: int, seed: int, shifts: int,
                  min_shift_f: float, sigma_s: float) -> np.ndarray:
    """(K, 2) scores [music → motion, motion → music] of one video's motion against its in-video music beat
    frames circularly shifted modulo ``num_frames`` by K offsets in [min_shift_f, num_frames − min_shift_f]
    drawn from ``seed`` (sync_null.draw_offsets)."""
    offsets = draw_offsets(seed, shifts, num_frames, min_shift_f, integer=True)
    trains = circular_shifts(np.asarray(music_frames, dtype=np.int64), offsets, num_frames)
    return beat_align_batch(trains, np.ones(trains.shape, dtype=bool), kin.motion_beats, kin.valid, sigma_s * kin.fps)


# --- streaming metric ---------------------------------------------------------------------------------------------

class BeatAlign(Metric):
    """2D-BeatAlign of generated dance videos against their music (higher = moves more on the beat), with its
    chance level (circular-shift and cross-music nulls, evalkit.metrics.sync_null) and how much the dancer moves
    (evalkit.metrics.movement) beside it."""

    name = "beat_align"
    # beside each reference's choices: the nulls (sync_null.NULL_SETTINGS; the minimum shift in beat periods of
    # the tracked tempo) and the still threshold of the movement columns — none of them changes beat_align
    _BESIDE = {**NULL_SETTINGS, "null_min_shift_beats": 1.0, "still_speed": STILL_SPEED}
    presets = {
        # Bailando's choices in seconds: music → motion, σ 3 frames @60 fps, smoothing 5 frames @60 fps
        "bailando": {"direction": MUSIC_TO_MOTION, "music_beats": "bailando", "sigma_s": 0.05,
                     "smooth_s": 5 / 60, "order_s": None, "conf_thresh": 0.3, "pose": "blazepose",
                     "start_bpm": None, **_BESIDE},
        # FACT's choices in seconds: motion → music, σ 3 frames @60 fps, no smoothing, minima within ±10 frames
        "fact": {"direction": MOTION_TO_MUSIC, "music_beats": "fact", "sigma_s": 0.05,
                 "smooth_s": 0.0, "order_s": 10 / 60, "conf_thresh": 0.3, "pose": "blazepose",
                 "start_bpm": None, **_BESIDE},
    }
    higher_is_better = True
    needs = ("pred", "audio")
    reference = ("evalkit 2D-BeatAlign (metric-spec §4.3) with Bailando/FACT settings in seconds; "
                 "3D formulas: Bailando utils/beat_align_score.py, MINT tools/calculate_beat_scores.py")
    on_boards = True
    drift_tolerance = (0.01, 0.0)
    option_types = {"start_bpm": Spec(float, nullable=True)}
    runtime_options = {"pose_settings": Spec(dict, nullable=True)}
    option_prefixes = {"pose_": "settings of the pose backend (checked against its constructor)"}

    def __init__(self, preset: str | None = None, device: str = "cpu", pose_settings: dict | None = None,
                 **overrides):
        # pose backend settings: a dict, or flat ``pose_<name>=value`` (``--opt beat_align.pose_model=PATH``);
        # they change the joints, so they live in settings (identity, merge checks)
        pose_settings = dict(pose_settings or {})
        for key in [k for k in overrides if k.startswith("pose_")]:
            pose_settings[key[len("pose_"):]] = overrides.pop(key)
        self.pose_info: dict = {}
        super().__init__(preset, device, **overrides)
        from evalkit.pose import backend_settings

        self.settings["pose_settings"] = backend_settings(self.settings["pose"], pose_settings)

    @classmethod
    def preflight(cls) -> None:
        """The BlazePose model file: without it every video would fail (and show as drift in N)."""
        from evalkit.pose.blazepose import find_model

        find_model()

    #: ``still_videos``: undefined because the dancer does not move (the still-video policy), within ``undefined``
    _COUNTS = ("undefined", "still_videos", "frames", "frames_no_person", "music_beats", "music_beats_excluded",
               "motion_beats")
    #: per video: the nulls of both directions and the movement columns
    _PER_VIDEO = (*NULL_STATES, *(f"{k}_other" for k in NULL_STATES), "speed", "still")
    #: per video, for the set-level cross-music null: content seed, fps, frames; ragged: valid velocity mask,
    #: motion beats (velocity indices), music beat times (s) inside the video
    _SET = ("x_id", "x_fps", "x_frames")
    _RAGGED = ("x_valid", "x_motion", "x_music")

    def reset(self) -> None:
        self.add_state("values", [], reduce="cat")  # per video, the preset's direction
        self.add_state("values_other", [], reduce="cat")  # per video, the other direction
        for key in self._COUNTS:
            self.add_state(key, 0.0)
        declare(self, self._PER_VIDEO + self._SET, self._RAGGED)
        self.add_state("null_ms", 0.0)  # cost of the per-video nulls, next to the metric's own time
        self.add_state("update_ms", 0.0)

    def _other(self) -> str:
        return MOTION_TO_MUSIC if self.settings["direction"] == MUSIC_TO_MOTION else MUSIC_TO_MOTION

    def update(self, item) -> dict[str, float]:
        from evalkit.audio.beats import aist_tempo_hint, beats_for_audio
        from evalkit.pose import extract

        started = time.perf_counter()
        s = self.settings
        audio = item.audio  # EvalkitError (no music) before any work; the state is untouched
        video = item.pred
        start_bpm = s["start_bpm"]
        if start_bpm is None and s["music_beats"] == "fact":
            start_bpm = aist_tempo_hint(f"{item.key} {audio.path.name}")  # FACT's tempo hint, when named
        beats = beats_for_audio(audio, video.fps, s["music_beats"], num_frames=video.num_frames, start_bpm=start_bpm)
        track = extract(video, backend=s["pose"], **s["pose_settings"])
        self.pose_info = dict(track.info)
        out = beat_align_2d(track, beats.frames, s["direction"], s["sigma_s"], s["smooth_s"], s["order_s"],
                            s["conf_thresh"], s["still_speed"])
        other, kin = self._other(), out["kinetics"]
        if out["still"]:  # no motion beats for the nulls either: a still video leaves every sync number undefined
            kin = replace(kin, motion_beats=np.zeros(0, dtype=np.int64))
        null_start = time.perf_counter()
        seed = content_seed(track.info.get("video_sha256") or frames_sha256(video.frames))
        null = self._shift_null(out, beats, kin, video.num_frames, seed)
        null_ms = (time.perf_counter() - null_start) * 1e3
        moves = out["movement"]
        excluded = out["music_beats_excluded"] + beats.dropped  # no person there, or past the video's end
        st = self._state
        st["values"] = np.append(st["values"], out["beat_align"])
        st["values_other"] = np.append(st["values_other"], out[other])
        st["undefined"] += float(np.isnan(out["beat_align"]))
        st["still_videos"] += float(out["still"])
        st["frames"] += kin.counts["frames"]
        st["frames_no_person"] += kin.counts["frames_no_person"]
        st["music_beats"] += len(out["music_beats"])
        st["music_beats_excluded"] += excluded
        st["motion_beats"] += len(kin.motion_beats)
        in_video = np.rint(beats.times * video.fps)  # the tracker's beats that beats.frames kept (cross-music)
        per_video = {**stored(null[0]), **{f"{k}_other": v for k, v in stored(null[1]).items()},
                     "speed": moves["speed"], "still": moves["still"], "x_id": seed, "x_fps": video.fps,
                     "x_frames": video.num_frames}
        for key, value in per_video.items():
            st[key] = np.append(st[key], float(value))
        push(self, "x_valid", kin.valid)
        push(self, "x_motion", kin.motion_beats)
        push(self, "x_music", beats.times[(in_video >= 0) & (in_video < video.num_frames)])
        st["null_ms"] += null_ms
        st["update_ms"] += (time.perf_counter() - started) * 1e3
        row = {"beat_align": out["beat_align"], f"beat_align_{other}": out[other],
               "beat_align_music_beats": float(len(out["music_beats"])),
               "beat_align_music_beats_excluded": float(excluded),
               "beat_align_motion_beats": float(len(kin.motion_beats)), "beat_align_tempo_bpm": beats.tempo,
               "beat_align_still_video": float(out["still"]),
               "beat_align_frames_no_person": float(kin.counts["frames_no_person"]),
               "beat_align_body_scale_px": kin.scale_px}
        for prefix, summary in (("beat_align", null[0]), (f"beat_align_{other}", null[1])):
            row.update({f"{prefix}_{k}": summary[k] for k in ("null", "lift", "z")})
        row.update({"beat_align_speed": moves["speed"], "beat_align_still": moves["still"]})
        return row

    def _shift_null(self, out: dict, beats, kin, num_frames: int, seed: int) -> tuple[dict, dict]:
        """Circular-shift nulls of (preset direction, other direction), at least ``null_min_shift_beats`` beat
        periods of the tracked tempo (120 BPM when the tracker gives none) from no shift."""
        s = self.settings
        tempo = beats.tempo if np.isfinite(beats.tempo) and beats.tempo > 0 else 120.0
        scores = shift_null_2d(kin, beats.frames, num_frames, seed, int(s["null_shifts"]),
                               s["null_min_shift_beats"] * 60.0 / tempo * kin.fps, s["sigma_s"])
        first = 0 if s["direction"] == MUSIC_TO_MOTION else 1
        return summarize(out["beat_align"], scores[:, first]), summarize(out[self._other()], scores[:, 1 - first])

    def cross_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """S[i, j] of both directions (preset's, other): the motion of video i against the music beats of video
        j (times mapped to i's frames, cut to i's length), videos in canonical (content seed) order."""
        st = self._state
        order = canonical_order(st["x_id"])
        valid, motion, music = (unpack(st, k) for k in self._RAGGED)
        n = len(order)
        first = 0 if self.settings["direction"] == MUSIC_TO_MOTION else 1
        mats = np.full((2, n, n), np.nan)
        for a, i in enumerate(order):
            fps, frames = st["x_fps"][i], int(st["x_frames"][i])
            trains = []
            for j in order:
                f = np.rint(music[j] * fps).astype(np.int64)
                trains.append(f[(f >= 0) & (f < frames)])
            values, mask = pad(trains)
            scores = beat_align_batch(values, mask, motion[i].astype(np.int64), valid[i] > 0,
                                      self.settings["sigma_s"] * fps)
            mats[0, a], mats[1, a] = scores[:, first], scores[:, 1 - first]
        return mats[0], mats[1]

    def compute(self) -> dict[str, float]:
        """Mean over videos of each direction; videos where it is undefined (NaN) are left out and counted.
        With at least one video: the nulls' rows (mean lift, z and chance level with bootstrap intervals; the
        cross-music chance level, lift and permutation p) and the movement rows."""
        st, other = self._state, self._other()
        out = {"beat_align": _nanmean(st["values"]), f"beat_align_{other}": _nanmean(st["values_other"])}
        if st["values"].size == 0:
            return out
        order = canonical_order(st["x_id"])
        own_mats = self.cross_matrices()
        seed = np.random.SeedSequence([int(x) for x in st["x_id"][order]])
        for prefix, values, tail, mat in (("beat_align", "values", "", own_mats[0]),
                                          (f"beat_align_{other}", "values_other", "_other", own_mats[1])):
            null, std, draws = (st[k + tail] for k in NULL_STATES)
            lift, z = lift_and_z(st[values], null, std, draws)
            out.update(with_ci(f"{prefix}_lift", lift))
            out.update({**with_ci(f"{prefix}_z", z), f"{prefix}_z_set": stouffer(z)})
            out.update(with_ci(f"{prefix}_null", np.where(draws >= MIN_DRAWS, null, np.nan)))
            cross = cross_summary(mat, int(self.settings["null_permutations"]), seed)
            out.update({f"{prefix}_{k}": v for k, v in cross.items()})
        out.update(with_ci("beat_align_speed", st["speed"]))
        out.update(with_ci("beat_align_still", st["still"]))
        return out

    def counts(self) -> dict[str, int]:
        return {"videos": int(self._state["values"].size), **{k: int(self._state[k]) for k in self._COUNTS},
                "null_ms": int(self._state["null_ms"]), "update_ms": int(self._state["update_ms"])}

    def identity(self) -> dict:
        import librosa
        import scipy

        ident = super().identity()
        # the pose model as the last video saw it (backend, model file, sha256, settings, runtime versions)
        ident["pose"] = {k: v for k, v in self.pose_info.items() if k not in ("video_sha256", "frames",
                                                                          "frames_with_person")}
        ident["versions"] = {"librosa": librosa.__version__, "scipy": scipy.__version__}
        return ident


def _nanmean(v: np.ndarray) -> float:
    ok = v[~np.isnan(v)]
    return float(ok.mean()) if ok.size else float("nan")
