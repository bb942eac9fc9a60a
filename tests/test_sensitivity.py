"""evalkit sensitivity: each damage does what it says, and a small version of the expected behaviour — motion
whose minima sit on the beats lifts above chance with its own music, not with the music delayed by half a beat or
for a still frame — comes out of the suite's table and figures."""
import numpy as np
import pytest

from evalkit.pose import PoseTrack
from evalkit.sensitivity.damages import SYNC, Clip, delay_audio, fit_length, other_music, random_walk, still_jitter
from test_beat_align import body

FPS, SR, SECONDS = 30.0, 22050, 6.0
T = int(FPS * SECONDS)


def clip(seed: int, bpm: float = 120.0) -> Clip:
    from test_beats import click_track

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (T, 16, 16, 3), dtype=np.uint8)
    samples, _ = click_track(bpm, SECONDS, sr=SR)
    return Clip(f"c{seed}", frames, FPS, samples, SR)


def test_damages_do_what_they_say():
    clips = [clip(0), clip(1, 90.0)]
    c = clips[0]
    late = delay_audio(3)(c, clips, 0)
    pad = int(round(3 / FPS * SR))
    assert late.samples.shape == c.samples.shape and not late.samples[:, :pad].any()
    np.testing.assert_array_equal(late.samples[:, pad:], c.samples[:, :-pad])
    assert np.array_equal(delay_audio(0)(c, clips, 0).samples, c.samples)
    np.testing.assert_array_equal(other_music(c, clips, 0).samples, fit_length(clips[1].samples, c.samples.shape[1]))
    assert (SYNC["still frame"](c, clips, 0).frames == c.frames[0]).all()
    walk = random_walk(c, clips, 0).frames
    index = [int(np.flatnonzero((c.frames == f).all(axis=(1, 2, 3)))[0]) for f in walk]
    assert index[0] == 0 and set(np.abs(np.diff(index))) == {1}  # one frame back or forth each step
    jitter = still_jitter(c, clips, 0).frames
    assert jitter.shape == c.frames.shape and (jitter[:, 2:-2, 2:-2] != c.frames[0, 2:-2, 2:-2]).any()
    assert SYNC["tempo +10%"](c, clips, 0).samples.shape == c.samples.shape


def test_other_music_skips_a_clip_of_the_same_tempo():
    from evalkit.sensitivity.damages import tempo, tempo_mismatched

    clips = [clip(0, 120.0), clip(1, 123.0), clip(2, 240.0), clip(3, 90.0)]
    assert abs(tempo(clips[0]) - 120.0) < 6 and abs(tempo(clips[3]) - 90.0) < 6
    assert not tempo_mismatched(120.0, 123.0) and not tempo_mismatched(120.0, 240.0) and tempo_mismatched(120, 90)
    # 123 BPM is the same tempo within 10 %, 240 BPM its double: the donor is the 90 BPM clip
    got = other_music(clips[0], clips, 0).samples
    np.testing.assert_array_equal(got, fit_length(clips[3].samples, clips[0].samples.shape[1]))


def dancing_track(beats_s: np.ndarray) -> PoseTrack:
    """The stick figure moving sideways with its speed minima on the beat frames (speed ∝ distance to the nearest
    beat, smoothed away by nothing: the minima are the beats)."""
    t = np.arange(T - 1)
    beat_frames = np.rint(beats_s * FPS)
    speed = 1.0 + np.abs(t[:, None] - beat_frames[None]).min(axis=1)
    x = np.concatenate([[0.0], np.cumsum(speed)])
    joints = body()[None] + np.stack([x, np.zeros(T)], axis=1)[:, None, :] + [200.0, 100.0]
    return PoseTrack(joints=joints, conf=np.full((T, 17), 0.9), present=np.ones(T, bool), fps=FPS, size=(400, 9000),
                     info={"backend": "synthetic"})


def still_track(seed: int) -> PoseTrack:
    """A dancer standing still with sub-pixel detector noise (BlazePose on a repeated real frame: ~0.1 px)."""
    joints = body()[None] + [200.0, 100.0] + np.random.default_rng(seed).normal(0, 0.05, (T, 17, 2))
    return PoseTrack(joints=joints, conf=np.full((T, 17), 0.9), present=np.ones(T, bool), fps=FPS, size=(400, 400),
                     info={"backend": "synthetic"})


def test_suite_small_version_of_the_expected_behaviour(tmp_path, monkeypatch):
    import pandas as pd

    import evalkit.pose
    from evalkit.sensitivity.plot import write_figures
    from evalkit.sensitivity.suite import SYNC_METRICS, run, write_table
    from test_beats import click_track

    clips = [clip(i, bpm) for i, bpm in enumerate((100.0, 120.0, 136.0, 150.0))]
    tracks = {c.frames.tobytes()[:4096]: dancing_track(click_track(bpm, SECONDS, sr=SR)[1])
              for c, bpm in zip(clips, (100.0, 120.0, 136.0, 150.0))}
    monkeypatch.setattr(evalkit.pose, "extract", lambda video, backend, **kw: tracks.get(
        video.frames.tobytes()[:4096], still_track(int(video.frames[0, 0, 0, 0]))))
    damages = {name: SYNC[name] for name in ("delay 0", "delay 8", "still frame")}
    rows = run({"synth": clips}, damages, progress=None)
    frame = pd.DataFrame(rows).set_index(["damage", "column"])
    lift = frame["value"].xs("beat_align_lift", level="column")
    low = frame["ci_low"].xs("beat_align_lift", level="column")
    assert low["delay 0"] > 0.2  # clearly above chance with its own music
    assert lift["delay 8"] < lift["delay 0"] - 0.2  # about half a beat late: the lift is gone
    # a still frame: undefined by the still-video policy (docs/sync.md), not a number from detector jitter
    assert np.isnan(lift["still frame"]) and np.isnan(frame["value"][("still frame", "beat_align")])
    assert frame["n_videos"][("still frame", "beat_align")] == 0
    assert frame["value"][("still frame", "beat_align_still")] > 0.9
    csv, md = write_table(rows, tmp_path)
    assert "| synth | delay 0 | 4 |" in md.read_text()
    for png in write_figures(pd.DataFrame(rows), tmp_path, SYNC_METRICS):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_command_refuses_an_unknown_damage():
    from evalkit.cli import main

    assert main(["sensitivity", "--no-wild", "--damage", "sideways"]) == 2


@pytest.mark.parametrize("name", sorted(SYNC))
def test_every_damage_keeps_the_clip_shape(name):
    clips = [clip(0), clip(1)]
    out = SYNC[name](clips[0], clips, 0)
    assert out.frames.shape == clips[0].frames.shape and out.samples.shape == clips[0].samples.shape


# --- appearance / distribution damages ------------------------------------------------------------------------


def moving_clip(seed: int, frames: int = 24, palindrome: bool = False) -> Clip:
    """A smooth pattern drifting sideways (a real image's spectrum, unlike white noise); ``palindrome``: played
    forwards then backwards, so that it reads the same reversed."""
    y, x = np.mgrid[0:32, 0:48]
    t = np.arange(frames)
    if palindrome:
        t = np.minimum(t, frames - 1 - t)
    phase = np.random.default_rng(seed).uniform(0, 6.28)
    img = [128 + 60 * np.sin(x[..., None] / 5.0 + k / 3.0 + phase + np.arange(3)) * np.cos(y[..., None] / 7.0)
           for k in t]
    samples = np.zeros((1, int(frames / FPS * SR)), np.float32)
    return Clip(f"m{seed}", np.clip(np.stack(img), 0, 255).astype(np.uint8), FPS, samples, SR)


def test_appearance_damages_do_what_they_say():
    from evalkit.sensitivity.appearance import APPEARANCE

    clips = [moving_clip(0), moving_clip(1)]
    c = clips[0]
    for name, damage in APPEARANCE.items():
        out = damage(c, clips, 0)
        assert out.frames.shape == c.frames.shape and out.frames.dtype == np.uint8, name
        assert np.array_equal(out.samples, c.samples), name  # the music is never touched
    shuffled = APPEARANCE["shuffle"](c, clips, 0).frames
    assert not np.array_equal(shuffled, c.frames)
    assert sorted(f.tobytes() for f in shuffled) == sorted(f.tobytes() for f in c.frames)  # every frame kept
    np.testing.assert_array_equal(APPEARANCE["reverse"](c, clips, 0).frames, c.frames[::-1])
    stutter = APPEARANCE["drop/dup 1 in 4"](c, clips, 0).frames
    np.testing.assert_array_equal(stutter[3], c.frames[2])  # frame 3 dropped, frame 2 shown twice
    np.testing.assert_array_equal(stutter[[0, 1, 2, 4]], c.frames[[0, 1, 2, 4]])
    assert np.array_equal(APPEARANCE["noise σ15"](c, clips, 0).frames, APPEARANCE["noise σ15"](c, clips, 0).frames)


def test_appearance_suite_frame_metrics_fall_with_damage(tmp_path):
    import pandas as pd

    from evalkit.sensitivity.appearance import APPEARANCE
    from evalkit.sensitivity.plot import appearance_figure, write_figures
    from evalkit.sensitivity.suite import appearance_markdown, run_appearance, write_table

    sources = {"synth": [moving_clip(i) for i in range(3)], "palindrome": [moving_clip(i, palindrome=True)
                                                                            for i in range(3)]}
    metrics = {"ssim": "clean", "psnr": "clean"}
    rows = run_appearance(sources, APPEARANCE, metrics, progress=None)
    frame = pd.DataFrame(rows)
    value = frame.set_index(["source", "damage", "metric"])["value"]
    for metric in metrics:
        v = value.xs(("synth", metric), level=("source", "metric"))
        for family in (["noise σ5", "noise σ15", "noise σ40"], ["blur σ1", "blur σ2", "blur σ4"],
                       ["jpeg q75", "jpeg q30", "jpeg q10"]):
            levels = [v["clean"], *v[family]]
            assert all(a > b for a, b in zip(levels, levels[1:])), (metric, family, levels)  # strictly worse
        for temporal in ("shuffle", "reverse", "drop/dup 1 in 4"):
            assert v[temporal] < v["clean"], (metric, temporal)  # a frame-exact copy's frames moved in time
        # a palindromic clip reversed is the clip itself: frame metrics unchanged to the last bit
        assert value[("palindrome", "reverse", metric)] == value[("palindrome", "clean", metric)]
    assert value[("synth", "clean", "ssim")] == pytest.approx(1.0, abs=1e-12)
    ok = frame.dropna(subset=["ci_low"])
    assert ((ok["ci_low"] <= ok["value"] + 1e-12) & (ok["value"] <= ok["ci_high"] + 1e-12)).all()
    assert (frame["n_videos"] == 3).all()
    csv, md = write_table(rows, tmp_path, "sensitivity_appearance", appearance_markdown)
    assert "| synth | noise σ40 | 3 |" in md.read_text()
    for png in write_figures(frame, tmp_path, metrics, appearance_figure):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
