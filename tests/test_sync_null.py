"""Null models of the sync metrics (evalkit/metrics/sync_null.py): motion whose minima sit on the beats stands far
above its circular-shift null, motion independent of the beats does not; the nulls reuse the metric's own scoring
(no shift = the score itself); shards merge exactly; the reference presets are unchanged."""
import math
from pathlib import Path

import numpy as np
import pytest

from evalkit.io.audio import Audio
from evalkit.io.item import ScoreItem
from evalkit.io.video import Video
from evalkit.metrics.av_align import AVAlign
from evalkit.metrics.beat_align import (MOTION_TO_MUSIC, MUSIC_TO_MOTION, BeatAlign, beat_align_2d,
                                        beat_align_batch, kinetics_2d, shift_null_2d)
from evalkit.metrics.movement import movement
from evalkit.metrics.sync_null import (MIN_DRAWS, circular_shifts, content_seed, cross_summary, draw_offsets,
                                       mean_ci, summarize)
from evalkit.pose import PoseTrack
from test_beat_align import body

FPS = 30.0
T = 300  # 10 s


def random_motion(seed: int, scale: float = 1.0) -> PoseTrack:
    """The stick figure translated sideways with a smooth random speed: irregular speed minima."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    speed = 2.0 + gaussian_filter1d(rng.standard_normal(T - 1), 3.0) * 4.0
    x = np.concatenate([[0.0], np.cumsum(np.abs(speed))]) * scale
    joints = body(scale)[None] + np.stack([x, np.zeros(T)], axis=1)[:, None, :] + [200.0, 100.0]
    return PoseTrack(joints=joints, conf=np.full((T, 17), 0.9), present=np.ones(T, bool), fps=FPS,
                     size=(400, 4000), info={"backend": "synthetic"})


def z_scores(track, beats: np.ndarray, seed: int, tempo: float = 120.0) -> dict[str, float]:
    """z of both directions with the metric's functions (Bailando kinetics, K = 200, one beat period)."""
    out = beat_align_2d(track, beats)
    scores = shift_null_2d(out["kinetics"], beats, T, seed, 200, 60.0 / tempo * FPS, 0.05)
    return {d: summarize(out[d], scores[:, i])["z"] for i, d in enumerate((MUSIC_TO_MOTION, MOTION_TO_MUSIC))}


def test_minima_exactly_on_the_beats_give_large_z():
    for seed in range(5):
        track = random_motion(seed)
        beats = kinetics_2d(track).motion_beats  # every motion minimum is a music beat: irregular "music"
        z = z_scores(track, beats, seed)
        assert z[MUSIC_TO_MOTION] > 5 and z[MOTION_TO_MUSIC] > 5, z


def test_minima_independent_of_the_beats_give_small_z_in_90_percent_of_draws():
    rng = np.random.default_rng(123)
    small = {MUSIC_TO_MOTION: 0, MOTION_TO_MUSIC: 0}
    draws = 100
    for seed in range(draws):
        tempo = rng.uniform(80, 160)
        period = 60.0 / tempo * FPS
        beats = np.rint(np.arange(rng.uniform(0, period), T, period)).astype(np.int64)
        beats = beats[beats < T]
        z = z_scores(random_motion(1000 + seed), beats, seed, tempo)
        for d in small:
            small[d] += abs(z[d]) < 2
    assert small[MUSIC_TO_MOTION] >= 0.9 * draws and small[MOTION_TO_MUSIC] >= 0.9 * draws, small


def test_batch_scoring_without_shift_is_the_score_itself():
    track = random_motion(3)
    music = np.array([5, 40, 77, 90, 150, 151, 298, 299])  # 299: past the velocity, excluded as in the score
    out = beat_align_2d(track, music)
    kin = out["kinetics"]
    got = beat_align_batch(music[None], np.ones((1, len(music)), bool), kin.motion_beats, kin.valid, 0.05 * FPS)
    assert got[0, 0] == pytest.approx(out[MUSIC_TO_MOTION], abs=1e-12)
    assert got[0, 1] == pytest.approx(out[MOTION_TO_MUSIC], abs=1e-12)
    # a train with no usable beat gives NaN, as the score
    assert np.isnan(beat_align_batch(np.array([[299]]), np.ones((1, 1), bool), kin.motion_beats, kin.valid, 1.5)).all()


def test_offsets_are_seeded_bounded_and_empty_when_the_clip_is_too_short():
    a = draw_offsets(7, 200, 120, 15.0, integer=True)
    assert np.array_equal(a, draw_offsets(7, 200, 120, 15.0, integer=True)) and a.min() >= 15 and a.max() <= 105
    f = draw_offsets(7, 50, 4.0, 0.5, integer=False)
    assert f.min() >= 0.5 and f.max() <= 3.5
    assert draw_offsets(7, 200, 20, 15.0, integer=True).size == 0 and draw_offsets(7, 9, 0.9, 0.5, False).size == 0
    shifted = circular_shifts(np.array([0, 10, 100]), np.array([30]), 120)
    assert shifted.tolist() == [[10, 30, 40]]
    assert content_seed("f" * 64) == 2 ** 52 - 1 and float(content_seed("f" * 64)) == 2 ** 52 - 1  # exact in float64
    undefined = summarize(0.5, np.full(MIN_DRAWS - 1, 0.1))
    assert math.isnan(undefined["z"]) and undefined["draws"] == MIN_DRAWS - 1


def test_cross_summary_and_interval():
    rng = np.random.default_rng(0)
    strong = rng.uniform(0, 0.3, (8, 8)) + np.eye(8)  # own music far above every other clip's
    out = cross_summary(strong, 2000, 1)
    assert out["p"] < 0.01 and out["cross_lift"] > 0.8
    flat = rng.uniform(0, 1, (8, 8))  # own music no better than another's
    assert cross_summary(flat, 2000, 1)["p"] > 0.05
    assert math.isnan(cross_summary(np.ones((1, 1)), 100, 1)["p"])
    mean, lo, hi = mean_ci(np.array([0.1, 0.2, np.nan, 0.4, 0.3]))
    assert mean == pytest.approx(0.25) and lo <= mean <= hi and 0.1 <= lo and hi <= 0.4


def test_movement_of_a_still_and_a_moving_dancer():
    track = random_motion(2)
    moving = movement(kinetics_2d(track), track)
    height = np.ptp(body()[:, 1])  # 230 px: nose (−30) to ankles (200)
    speeds = np.abs(np.diff(track.joints[:, 0, 0])) * FPS / height
    assert moving["speed"] == pytest.approx(np.median(speeds), rel=1e-9) and moving["still"] < 0.2
    still = random_motion(2)
    still.joints[:] = still.joints[:1] + np.random.default_rng(0).normal(0, 0.05, still.joints.shape)
    out = movement(kinetics_2d(still), still)
    assert out["speed"] < 0.05 and out["still"] > 0.9


# --- the streaming metrics: rows, merge ------------------------------------------------------------------------


def _beat_item(key: str, bpm: float):
    from test_beats import click_track

    samples, _ = click_track(bpm, T / FPS)
    video = Video(np.zeros((T, 8, 8, 3), np.uint8), FPS, Path(f"/nonexistent/{key}.mp4"))
    return ScoreItem(key, video, None, lambda: Audio(samples, 22050, video.path, "sidecar"))


def _same(a: dict, b: dict) -> bool:
    assert a.keys() == b.keys()
    differ = [k for k in a if not ((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k])]
    assert not differ, {k: (a[k], b[k]) for k in differ}
    return True


def test_beat_align_shards_merge_exactly_and_presets_unchanged(monkeypatch):
    import evalkit.pose

    tracks = {f"v{i}": random_motion(20 + i) for i in range(4)}
    for i, track in enumerate(tracks.values()):
        track.info = {"backend": "synthetic", "video_sha256": f"{i + 1:x}" * 64}
    monkeypatch.setattr(evalkit.pose, "extract", lambda video, backend, **kw: tracks[video.path.stem])
    bpms = [96.0, 120.0, 137.0, 150.0]
    single, shard_a, shard_b = BeatAlign(), BeatAlign(), BeatAlign()
    rows = [single.update(_beat_item(k, bpm)) for k, bpm in zip(tracks, bpms)]
    for i, (k, bpm) in enumerate(zip(tracks, bpms)):
        row = (shard_a if i % 2 else shard_b).update(_beat_item(k, bpm))
        assert _same(row, rows[i])  # rows and their nulls do not depend on the shard
    merged = shard_a.merge(shard_b).compute()  # another order than the single run
    want = single.compute()
    for key in ("beat_align", "beat_align_motion_to_music"):  # the reference's mean: summed in video order
        assert merged.pop(key) == pytest.approx(want.pop(key), rel=1e-12)
    assert _same(merged, want)  # everything new: bit for bit
    assert {"beat_align_lift", "beat_align_z", "beat_align_null", "beat_align_cross", "beat_align_p",
            "beat_align_motion_to_music_lift", "beat_align_speed", "beat_align_still"} <= set(want)
    assert want["beat_align_lift_ci_low"] <= want["beat_align_lift"] <= want["beat_align_lift_ci_high"]
    # the cross-music matrix has the own scores on its diagonal
    own = np.sort(single._state["values"])
    np.testing.assert_allclose(np.sort(np.diag(single.cross_matrices()[0])), own, rtol=0, atol=1e-12)
    # the reference settings are those of before the nulls; the nulls do not change the score
    ref = {"direction": MUSIC_TO_MOTION, "music_beats": "bailando", "sigma_s": 0.05, "smooth_s": 5 / 60,
           "order_s": None, "conf_thresh": 0.3, "pose": "blazepose", "start_bpm": None}
    assert {k: BeatAlign.presets["bailando"][k] for k in ref} == ref
    assert BeatAlign.presets["fact"]["order_s"] == 10 / 60 and BeatAlign.presets["fact"]["smooth_s"] == 0.0
    no_null = BeatAlign(null_shifts=0).update(_beat_item("v0", bpms[0]))
    assert no_null["beat_align"] == rows[0]["beat_align"] and math.isnan(no_null["beat_align_z"])


def test_av_align_null_rows_and_exact_merge():
    from test_av_align import moving_pattern
    from test_beats import click_track

    items = []
    for i, bpm in enumerate((100.0, 130.0, 150.0)):
        frames = moving_pattern(n=72, h=32, w=48, seed=i)
        clicks, _ = click_track(bpm, len(frames) / 24.0)
        video = Video(frames, 24.0, Path(f"/nonexistent/a{i}.mp4"))
        items.append(ScoreItem(f"a{i}", video, None, lambda c=clicks, v=video: Audio(c, 22050, v.path, "container")))
    single, a, b = AVAlign(workers=1), AVAlign(workers=1), AVAlign(workers=1)
    rows = [single.update(item) for item in items]
    assert all(np.isfinite(r["av_align_null"]) and r["av_align_lift"] == r["av_align"] - r["av_align_null"]
               for r in rows)
    b.update(items[2])
    a.update(items[0])
    a.update(items[1])
    merged, want = b.merge(a).compute(), single.compute()
    assert merged.pop("av_align") == pytest.approx(want.pop("av_align"), rel=1e-12)
    assert _same(merged, want)
    assert AVAlign("tempotokens-2025").settings == {"min_peak": 0.1, "one_to_one": True}
    with pytest.raises(ValueError, match="null"):
        AVAlign(workers=1).merge(AVAlign(workers=1, null_shifts=10))


# --- the still-video policy ------------------------------------------------------------------------------------


def jittered_still(seed: int, px: float = 0.05) -> PoseTrack:
    """The stick figure held still, its joints jittering by ``px`` pixels (BlazePose on a held real frame: ~0.005
    body heights / s, this: ~0.01)."""
    track = random_motion(seed)
    track.joints[:] = track.joints[:1] + np.random.default_rng(seed).normal(0, px, track.joints.shape)
    return track


def test_still_video_gives_nan_in_both_directions_moving_dancers_unchanged(monkeypatch):
    import evalkit.pose

    beats = np.arange(7, T, 15)
    still = jittered_still(0)
    kept = beat_align_2d(still, beats, still_speed=0.0)  # policy off: jitter makes minima, and a score
    assert kept["kinetics"].motion_beats.size > 10 and np.isfinite(kept[MUSIC_TO_MOTION])
    out = beat_align_2d(still, beats)
    assert out["still"] and out["movement"]["speed"] < 0.05
    assert math.isnan(out[MUSIC_TO_MOTION]) and math.isnan(out[MOTION_TO_MUSIC])
    for seed in range(5):  # a moving dancer: bit-identical with the policy on or off
        on, off = beat_align_2d(random_motion(seed), beats), beat_align_2d(random_motion(seed), beats, still_speed=0.0)
        assert not on["still"] and on[MUSIC_TO_MOTION] == off[MUSIC_TO_MOTION]
        assert on[MOTION_TO_MUSIC] == off[MOTION_TO_MUSIC]
    # the streaming metric: NaN row, counted as still (within undefined), no null and no cross-music entry
    tracks = {"v0": random_motion(20), "v1": random_motion(21), "s": still}
    for i, track in enumerate(tracks.values()):
        track.info = {"backend": "synthetic", "video_sha256": f"{i + 1:x}" * 64}
    monkeypatch.setattr(evalkit.pose, "extract", lambda video, backend, **kw: tracks[video.path.stem])
    metric = BeatAlign()
    rows = [metric.update(_beat_item(k, 120.0)) for k in tracks]
    assert rows[2]["beat_align_still_video"] == 1.0 and rows[0]["beat_align_still_video"] == 0.0
    assert all(math.isnan(rows[2][k]) for k in ("beat_align", "beat_align_motion_to_music", "beat_align_null",
                                                 "beat_align_lift", "beat_align_z"))
    assert rows[2]["beat_align_speed"] < 0.05
    assert metric.counts()["still_videos"] == 1 and metric.counts()["undefined"] == 1
    mat = metric.cross_matrices()[0]  # the still video's motion scores against no music; its music stays usable
    assert np.isnan(mat).all(axis=1).sum() == 1 and np.isfinite(mat).sum() == 6
    assert np.isfinite(BeatAlign(still_speed=0.0).update(_beat_item("s", 120.0))["beat_align"])  # policy off
