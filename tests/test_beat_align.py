"""BeatAlign: FACT and Bailando 3D formulas vs literal transcriptions of docs/metric-spec-notes.md §4.1/4.2, and 2D-BeatAlign
on synthetic pose tracks with known motion minima and known beats."""
import math

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.io.audio import Audio
from evalkit.io.item import ScoreItem
from evalkit.io.video import Video
from evalkit.metrics.beat_align import (MOTION_TO_MUSIC, MUSIC_TO_MOTION, BeatAlign, bailando_beat_align,
                                       beat_align_2d, fact_beat_align, kinetics_2d)
from evalkit.pose import PoseTrack

# --- literal transcriptions of the spec (loops, float64, no shared code with evalkit) -------------------------


def _strict_min_clip(x, t, order):
    """argrelextrema(np.less, order) as the spec names it: x[t] below every x[clip(t±k)], k = 1..order."""
    n = len(x)
    return all(x[t] < x[min(max(t + s * k, 0), n - 1)] for k in range(1, order + 1) for s in (-1, 1))


def literal_fact(joints, music_idx, sigma=3.0, order=10, seed=0):
    T = len(joints)
    J = len(joints[0])
    v = [[[0.0, 0.0, 0.0]] * J] + [[[a - b for a, b in zip(joints[t][j], joints[t - 1][j])] for j in range(J)]
                                   for t in range(1, T)]
    e = [sum(math.sqrt(sum(c * c for c in v[t][j])) for j in range(J)) for t in range(T)]
    # MINT finds beats on the whole sequence, then cuts the seed from both one-hot columns
    motion = [t - seed for t in range(seed, T) if _strict_min_clip(e, t, order)]
    music_idx = [m - seed for m in music_idx if seed <= m < T]
    if not motion:
        return 0.0
    s = [math.exp(-min(abs(y - x) for y in music_idx) ** 2 / (2 * sigma ** 2)) for x in motion]
    return sum(s) / len(s)


def literal_gaussian_reflect(k, sigma):
    """scipy.ndimage.gaussian_filter(k, σ) on 1-D: kernel radius int(4σ+0.5), edges mirrored (d c b a | a b c d)."""
    r = int(4.0 * sigma + 0.5)
    w = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-r, r + 1)]
    z = sum(w)
    n = len(k)

    def at(i):
        while i < 0 or i >= n:
            i = -i - 1 if i < 0 else 2 * n - i - 1
        return k[i]

    return [sum(w[i + r] * at(t + i) for i in range(-r, r + 1)) / z for t in range(n)]


def literal_bailando(joints, music_idx, sigma=3.0, smooth=5.0):
    T = len(joints)
    k = [sum(math.dist(joints[t + 1][j], joints[t][j]) for j in range(len(joints[0]))) / len(joints[0])
         for t in range(T - 1)]
    ks = literal_gaussian_reflect(k, smooth)
    motion = [t for t in range(len(ks)) if _strict_min_clip(ks, t, 1)]
    music = [m for m in music_idx if m < T - 1]
    return sum(math.exp(-min((d - m) ** 2 for d in motion) / (2 * 9)) for m in music) / len(music)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fact_and_bailando_equal_literal_spec_on_random_arrays(seed):
    rng = np.random.default_rng(seed)
    T = 240
    joints = np.cumsum(rng.normal(0, 0.02, (T, 24, 3)), axis=0)  # a random walk: velocity with many minima
    music = np.sort(rng.choice(T, 16, replace=False))
    fact = fact_beat_align(joints, music)
    bail = bailando_beat_align(joints, music)
    print(f"seed {seed}: FACT {fact:.6f} Bailando {bail:.6f}")
    # FACT's velocity is float32 as in MINT; the minima agree and the score is float64 in both: 1e-12
    assert fact == pytest.approx(literal_fact(joints.tolist(), music.tolist()), abs=1e-12)
    assert bail == pytest.approx(literal_bailando(joints.tolist(), music.tolist()), abs=1e-12)
    # the references store beats as a float one-hot column; the same beats that way give the same numbers
    onehot = np.zeros(T, np.float32)
    onehot[music] = 1
    assert fact_beat_align(joints, onehot) == fact and bailando_beat_align(joints.reshape(T, 72), onehot) == bail


def test_3d_edge_cases_follow_the_references():
    still = np.zeros((100, 24, 3))
    assert fact_beat_align(still, [10, 20]) == 0.0  # no motion beat: FACT returns 0
    assert math.isnan(bailando_beat_align(still, [10, 20]))  # Bailando would fail on an empty min: NaN
    rng = np.random.default_rng(5)
    moving = np.cumsum(rng.normal(0, 1, (200, 24, 3)), axis=0)
    assert math.isnan(bailando_beat_align(moving, []))
    # FACT drops a 120-frame seed of generated sequences from both beat lists
    music = np.arange(0, 200, 15)
    ref = literal_fact(moving.tolist(), music.tolist(), seed=120)
    assert fact_beat_align(moving, music, seed_frames=120) == pytest.approx(ref, abs=1e-12)


# --- 2D-BeatAlign -------------------------------------------------------------------------------------------

FPS = 30.0
T = 91  # velocity has T−1 = 90 samples, indices 0…89
MINIMA = [7, 22, 37, 52, 67, 82]  # speed minima every P = 15 frames from t0 = 7


def body(scale: float = 1.0) -> np.ndarray:
    """A COCO-17 stick figure (pixels) with torso length 100·scale (mid-shoulder to mid-hip)."""
    x = np.array([0, -5, 5, -10, 10, -20, 20, -30, 30, -35, 35, -15, 15, -15, 15, -15, 15], float)
    y = np.array([-30, -35, -35, -32, -32, 0, 0, 40, 40, 80, 80, 100, 100, 150, 150, 200, 200], float)
    return np.stack([x, y], axis=1) * scale


def synthetic_track(scale: float = 1.0, fps: float = FPS) -> PoseTrack:
    """The figure translated sideways with speed 2 − cos(2π(t − 7)/15) per frame step t → t+1: strict speed
    minima at MINIMA. The speed curve is mirror-symmetric about t = −0.5 and t = 89.5 (its extrema), so scipy's
    'reflect' smoothing keeps the minima exactly where they are."""
    t = np.arange(T - 1)
    speed = 2 - np.cos(2 * np.pi * (t - 7) / 15)
    x = np.concatenate([[0.0], np.cumsum(speed)]) * scale
    joints = body(scale)[None] + np.stack([x, np.zeros(T)], axis=1)[:, None, :] + [200.0, 100.0]
    return PoseTrack(joints=joints, conf=np.full((T, 17), 0.9), present=np.ones(T, bool), fps=fps,
                     size=(400, 800), info={"backend": "synthetic"})


def g(d, sigma_f=0.05 * FPS):
    return math.exp(-d * d / (2 * sigma_f ** 2))


MUSIC = [7, 24, 37, 50, 85]
# music → motion: 7→7 (0), 24→22 (2), 37→37 (0), 50→52 (2), 85→82 (3)
HAND_M2D = (g(0) + g(2) + g(0) + g(2) + g(3)) / 5
# motion → music: 7→7 (0), 22→24 (2), 37→37 (0), 52→50 (2), 67→50 or 85 (17), 82→85 (3)
HAND_D2M = (g(0) + g(2) + g(0) + g(2) + g(17) + g(3)) / 6


def test_synthetic_motion_minima_and_hand_computed_scores():
    track = synthetic_track()
    kin = kinetics_2d(track)  # Bailando smoothing: σ = 5/60 s = 2.5 frames at 30 fps
    np.testing.assert_array_equal(kin.motion_beats, MINIMA)
    assert kin.scale_px == pytest.approx(100.0) and kin.scale_source == "torso"
    out = beat_align_2d(track, MUSIC, MUSIC_TO_MOTION)
    assert out["beat_align"] == pytest.approx(HAND_M2D, abs=1e-12)
    assert out[MOTION_TO_MUSIC] == pytest.approx(HAND_D2M, abs=1e-12)
    assert beat_align_2d(track, MUSIC, MOTION_TO_MUSIC)["beat_align"] == pytest.approx(HAND_D2M, abs=1e-12)
    print(f"2D-BeatAlign synthetic: music→motion {HAND_M2D:.6f}, motion→music {HAND_D2M:.6f}")


def test_scale_and_fps_invariance():
    base = beat_align_2d(synthetic_track(), MUSIC)
    big = beat_align_2d(synthetic_track(scale=3.0), MUSIC)
    assert big["beat_align"] == pytest.approx(base["beat_align"], abs=1e-12)
    np.testing.assert_allclose(big["kinetics"].velocity, base["kinetics"].velocity, rtol=1e-12)
    # velocity is in body sizes per second: twice the fps, same frames → twice the speed
    fast = kinetics_2d(synthetic_track(fps=2 * FPS))
    np.testing.assert_allclose(fast.velocity, 2 * kinetics_2d(synthetic_track()).velocity, rtol=1e-12)


def test_low_confidence_joints_are_interpolated():
    clean = synthetic_track()
    noisy = synthetic_track()
    rng = np.random.default_rng(0)
    bad = rng.random((T, 17)) < 0.15
    bad[:, 5:7] = False  # keep the torso corners confident somewhere so the scale is the same
    bad[0] = bad[-1] = False
    noisy.conf[bad] = 0.1
    noisy.joints[bad] += rng.normal(0, 50, (bad.sum(), 2))  # garbage where the detector is unsure
    kin_c, kin_n = kinetics_2d(clean), kinetics_2d(noisy)
    assert kin_n.counts["joints_interpolated"] == bad.sum()
    # the figure moves with piecewise-smooth x(t): linear interpolation over 1–2 frame gaps stays within a
    # fraction of a pixel, so the speed curve and its minima survive
    np.testing.assert_array_equal(kin_n.motion_beats, kin_c.motion_beats)
    assert np.nanmax(np.abs(kin_n.velocity - kin_c.velocity)) < 0.05 * np.nanmax(kin_c.velocity)


def test_frames_without_a_person_are_excluded_and_counted():
    track = synthetic_track()
    gap = slice(44, 50)
    track.present[gap] = False
    track.joints[gap] = np.nan
    track.conf[gap] = 0.0
    out = beat_align_2d(track, MUSIC + [46])
    kin = out["kinetics"]
    assert kin.counts["frames_no_person"] == 6
    assert np.isnan(kin.velocity[43:50]).all() and not kin.valid[43:50].any()  # steps touching the gap
    assert out["music_beats_excluded"] == 1 and 46 not in out["music_beats"]
    # minima away from the gap are untouched; smoothing and minima never reach across it
    assert {7, 22, 37, 67, 82} <= set(out["motion_beats"].tolist())
    assert not ((out["motion_beats"] >= 43) & (out["motion_beats"] < 50)).any()
    assert np.isfinite(out["beat_align"])


def test_no_person_gives_nan_never_a_crash():
    track = synthetic_track()
    track.present[:] = False
    track.joints[:] = np.nan
    track.conf[:] = 0.0
    out = beat_align_2d(track, MUSIC)
    assert math.isnan(out["beat_align"]) and math.isnan(out[MOTION_TO_MUSIC])
    assert out["kinetics"].counts["frames_no_person"] == T and out["music_beats_excluded"] == len(MUSIC)
    still = synthetic_track()
    still.joints[:] = still.joints[:1]  # nobody moves: no motion minima
    assert math.isnan(beat_align_2d(still, MUSIC)["beat_align"])
    with pytest.raises(EvalkitError, match="direction"):
        beat_align_2d(track, MUSIC, "sideways")


# --- the streaming metric ------------------------------------------------------------------------------------


def _item(tmp_path, track, with_audio=True, key="clip"):
    from test_beats import click_track

    video = Video(np.zeros((track.num_frames, 8, 8, 3), np.uint8), track.fps, tmp_path / f"{key}.mp4")
    samples, _ = click_track(120.0, track.num_frames / track.fps)
    audio = Audio(samples, 22050, tmp_path / f"{key}.wav", "sidecar")
    if with_audio:
        return ScoreItem(key, video, None, lambda: audio)

    def missing():
        raise EvalkitError("has no audio stream", path=video.path, hint="pass --audio DIR")

    return ScoreItem(key, video, None, missing)


def test_metric_rows_counts_nan_and_merge(tmp_path, monkeypatch):
    import evalkit.pose

    tracks = {"clip": synthetic_track(), "empty": synthetic_track()}
    tracks["empty"].present[:] = False
    tracks["empty"].conf[:] = 0.0
    monkeypatch.setattr(evalkit.pose, "extract", lambda video, backend, **kw: tracks[video.path.stem])

    m = BeatAlign()
    assert m.preset == "bailando" and m.settings["direction"] == MUSIC_TO_MOTION
    row = m.update(_item(tmp_path, tracks["clip"]))
    assert 0 < row["beat_align"] <= 1 and row["beat_align_motion_beats"] == len(MINIMA)
    state = m.state_dict()
    with pytest.raises(EvalkitError, match="no audio stream"):  # the engine reports this per metric and goes on
        m.update(_item(tmp_path, tracks["clip"], with_audio=False))
    assert all(np.array_equal(state[k], v) for k, v in m.state_dict().items())  # nothing half-counted

    other = BeatAlign()
    nan_row = other.update(_item(tmp_path, tracks["empty"], key="empty"))
    assert math.isnan(nan_row["beat_align"]) and nan_row["beat_align_frames_no_person"] == T
    m.merge(other)
    assert m.compute()["beat_align"] == pytest.approx(row["beat_align"])  # NaN left out of the mean...
    counts = m.counts()
    assert counts["videos"] == 2 and counts["undefined"] == 1 and counts["frames_no_person"] == T  # ...and counted
    assert BeatAlign("fact").compute().keys() == {"beat_align", f"beat_align_{MUSIC_TO_MOTION}"}
    # pose backend settings travel flat from --opt (beat_align.pose_model=PATH) and are part of the identity
    assert BeatAlign(pose_model="/m.task").identity()["settings"]["pose_settings"] == {"model": "/m.task"}
    with pytest.raises(ValueError, match="cannot merge"):
        m.merge(BeatAlign(pose_model="/m.task"))


def test_plot_beats_command_writes_a_png(tmp_path, monkeypatch):
    import evalkit.pose
    from evalkit.cli import main
    from evalkit.io.video import write_video
    from test_beats import click_track

    track = synthetic_track()
    samples, _ = click_track(120.0, T / FPS, sr=44100)
    video = write_video(tmp_path / "dance.mp4", np.zeros((T, 64, 64, 3), np.uint8), FPS, samples.T, 44100)
    monkeypatch.setattr(evalkit.pose, "extract", lambda clip, backend, **kw: track)
    png = tmp_path / "out" / "beats.png"
    assert main(["plot", "beats", str(video), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert main(["plot", "beats", str(tmp_path / "missing.mp4")]) == 2  # one-line error, no traceback
