"""Baselines: right shape/fps/audio on a tiny SDGPip split; gt-pose reproduces the ground truth; retrieval's time
warp puts the source's motion beats on the test beats; shuffled-music drives each sample with another's music."""
from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.generators import BASELINES, GENERATORS, GeneratorContext, check_frames, make_generator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """3 train + 3 test clips of 3 s at 64², 15 fps (rgb only): generated in a few seconds."""
    from evalkit.data.registry import get_split
    from evalkit.data.synth.pipeline import SynthConfig, generate

    root = tmp_path_factory.mktemp("sdgpip")
    generate(root, SynthConfig(train=3, test=3, seconds=3.0, size=64, fps=15.0, seed=3, maps=("rgb",)))
    return root, sorted(get_split("synth", "test", root), key=lambda s: s.id)


def context(root) -> GeneratorContext:
    return GeneratorContext("synth", root)


def velocity_minima(joints: np.ndarray, fps: float) -> np.ndarray:
    """Times of strict local minima of the mean joint speed (speed sample i sits at (i + 0.5)/fps)."""
    v = np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(axis=-1)
    i = np.arange(1, len(v) - 1)
    return (i[(v[i] < v[i - 1]) & (v[i] < v[i + 1])] + 0.5) / fps


def nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :]).min(axis=1)


def test_registry_lists_every_baseline_and_m2p():
    assert set(BASELINES) == {"static", "gt-pose", "retrieval", "beat-procedural", "shuffled-music"}
    assert "m2p" in GENERATORS


def test_unavailable_generator_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(GENERATORS, "m2p", "evalkit.models.no_such_module:M2P")
    with pytest.raises(EvalkitError, match="generator 'm2p' is not available: cannot import"):
        make_generator("m2p")
    with pytest.raises(EvalkitError, match="unknown generator 'nope'"):
        make_generator("nope")
    with pytest.raises(EvalkitError, match="has no option"):
        make_generator("static", GeneratorContext(options={"colour": 1}))


@pytest.mark.parametrize("name", BASELINES)
def test_run_writes_videos_of_the_right_shape_fps_and_music(tiny, tmp_path, name):
    """Through the runner (no scoring): every prediction has the ground truth's frames, size and fps, and carries
    the sample's own music losslessly (ALAC), cut to the video's duration."""
    from evalkit.io.audio import decode_audio
    from evalkit.io.video import decode_video
    from evalkit.runner import run_model

    root, samples = tiny
    run_model(name, "test", "synth", root=root, out=tmp_path / name, limit=2, progress=False, score_videos=False)
    for sample in samples[:2]:
        pred = decode_video(tmp_path / name / "pred" / f"{sample.id}.mp4")
        assert pred.frames.shape == (sample.num_frames, 64, 64, 3)
        assert pred.fps == pytest.approx(sample.fps, abs=1e-6)
        gt = decode_video(tmp_path / name / "gt" / f"{sample.id}.mp4")
        assert gt.num_frames == sample.num_frames
        heard, music = decode_audio(pred.path), decode_audio(sample.music)
        n = int(round(sample.num_frames / sample.fps * music.sample_rate))
        assert heard.sample_rate == music.sample_rate and heard.samples.shape[1] == n
        assert np.abs(heard.samples - music.samples[:, :n]).max() < 1e-6  # lossless, no priming delay


def test_static_repeats_the_reference(tiny):
    from PIL import Image

    _, samples = tiny
    frames = make_generator("static").generate(samples[0])
    ref = np.asarray(Image.open(samples[0].reference).convert("RGB"))
    assert frames.shape[0] == samples[0].num_frames and (frames == ref).all()


def test_gt_pose_reproduces_the_synthetic_ground_truth(tiny):
    """The SDGPip dancer is regenerated from the manifest: ground-truth joints render back to the video exactly."""
    root, samples = tiny
    gen = make_generator("gt-pose", context(root))
    for sample in samples[:2]:
        assert (gen.generate(sample) == sample.load_video().frames).all()


def test_time_warp_puts_source_beats_on_test_beats():
    """A source that stops on its beats (0.6 s period), warped onto test beats at another, uneven tempo, stops on
    the test beats: velocity minima within one frame; also when the source must loop."""
    from evalkit.baselines.motion import warp_motion

    fps = 30.0
    src_beats = 0.25 + 0.6 * np.arange(12)
    t = np.arange(int(7.5 * fps)) / fps
    phase = np.interp(t, src_beats, np.arange(12.0), left=np.nan, right=np.nan)
    k = np.floor(np.nan_to_num(phase, nan=0.0))
    u = np.nan_to_num(phase, nan=0.0) - k
    eased = u * u * (3 - 2 * u)  # zero speed on every beat
    keys = np.where(k % 2 == 0, 0.0, 1.0)
    x = keys + (1 - 2 * keys) * eased
    joints = np.zeros((len(t), 2, 3))
    joints[:, 0, 0], joints[:, 1, 1] = x, 0.5 * x
    for seconds, test_beats in ((3.0, 0.1 + np.cumsum(np.r_[0, np.full(6, 0.41), np.full(2, 0.44)])),
                                (9.0, 0.2 + 0.35 * np.arange(26))):  # fits once / must loop
        n = int(seconds * fps)
        out, info = warp_motion(joints, fps, src_beats, test_beats, n, fps)
        assert out.shape == (n, 2, 3)
        inside = test_beats[(test_beats > 0.2) & (test_beats < n / fps - 0.2)]  # minima need frames both sides
        assert nearest(inside, velocity_minima(out, fps)).max() <= 1.0 / fps
    assert info["loops"] >= 1


def test_retrieval_dances_on_the_test_music_beats(tiny):
    from evalkit.baselines.motion import load_music, track_beats

    root, samples = tiny
    gen = make_generator("retrieval", context(root))
    sample = samples[0]
    joints = gen.motion(sample)
    assert joints.shape == (sample.num_frames, 24, 3)
    beats = track_beats(load_music(sample.music, sample.num_frames / sample.fps))
    inside = beats[(beats > 0.2) & (beats < sample.num_frames / sample.fps - 0.2)]
    assert len(inside) >= 2
    assert np.median(nearest(inside, velocity_minima(joints, sample.fps))) <= 1.0 / sample.fps
    assert gen.info()["retrieved"][sample.id].startswith("g")  # a training clip was named
    frames = check_frames(gen.generate(sample), sample, "retrieval")
    assert frames.std(axis=0).mean() > 1.0  # the dancer moves


def test_beat_procedural_stops_on_librosa_beats(tiny):
    from evalkit.baselines.motion import load_music, track_beats

    _, samples = tiny
    gen = make_generator("beat-procedural")
    sample = samples[1]
    joints = gen.motion(sample)
    beats = track_beats(load_music(sample.music, sample.num_frames / sample.fps))
    inside = beats[(beats > 0.2) & (beats < sample.num_frames / sample.fps - 0.2)]
    assert nearest(inside, velocity_minima(joints, sample.fps)).max() <= 1.0 / sample.fps


def test_shuffled_music_uses_another_samples_music(tiny):
    root, samples = tiny
    gen = make_generator("shuffled-music", context(root))
    gen.prepare(samples)
    own = {s.id: Path(s.music) for s in samples}
    assert all(gen.music_of[s.id] != own[s.id] for s in samples)  # nobody keeps their own music
    assert sorted(gen.music_of.values()) == sorted(own.values())  # every music used once
    inner = make_generator("beat-procedural")
    sample = samples[0]
    shuffled = gen.generate(sample)
    assert (shuffled == inner.generate(sample, music=gen.music_of[sample.id])).all()
    assert not (shuffled == inner.generate(sample)).all()
    with pytest.raises(EvalkitError, match="at least two samples"):
        gen.prepare(samples[:1])


def test_wrong_output_shape_is_reported(tiny):
    _, samples = tiny
    with pytest.raises(EvalkitError, match="expected uint8"):
        check_frames(np.zeros((3, 64, 64, 3), np.uint8), samples[0], "x")


def test_puppet_moves_parts_with_the_keypoints():
    """Reference pose in, reference person out; the whole pose shifted, the parts shift with it."""
    from evalkit.baselines.puppet import Puppet

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(120, 100, 3), dtype=np.uint8)
    kp = np.array([[50, 20], [47, 17], [53, 17], [44, 19], [56, 19], [38, 35], [62, 35], [33, 50], [67, 50],
                   [30, 64], [70, 64], [42, 65], [58, 65], [41, 85], [59, 85], [40, 104], [60, 104]], float)
    puppet = Puppet.from_reference(image, kp)
    same = puppet.render(kp[None])[0]
    torso = puppet.parts["torso"].mask > 0
    assert (same[torso] == image[torso]).mean() > 0.95  # limbs painted over the torso may differ at the seams
    moved = puppet.render((kp + [7, 0])[None])[0]
    ys, xs = np.nonzero(torso[:, :-7])
    assert (moved[ys, xs + 7] == same[ys, xs]).mean() > 0.9
    with pytest.raises(EvalkitError, match="shoulders and hips"):
        Puppet.from_reference(image, np.full((17, 2), np.nan))


def test_exactly_one_run_model_command():
    import importlib

    import typer

    from evalkit.cli import COMMAND_MODULES

    app = typer.Typer()
    for name in COMMAND_MODULES:
        importlib.import_module(f"evalkit.cli.{name}").register(app)
    names = [c.name for c in app.registered_commands]
    assert names.count("run-model") == 1
