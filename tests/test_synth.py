"""SDGPip: music with true beats, motion that stops on the beats, EDGE input, the AIST++-layout round trip,
byte-reproducibility, beat synchronisation measured by 2D-BeatAlign, the default split and the CLI."""
import hashlib
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from evalkit.data.aist import AistSplit
from evalkit.data.synth.motion import (
    Dancer,
    choreograph,
    forward_kinematics,
    kinetic_velocity,
    load_edge_pkl,
    matrices_to_rotvec,
    mirror,
    offsets_of,
    rotvec_to_matrices,
)
from evalkit.data.synth.music import (
    BPM_RANGE,
    GENRES,
    beat_strength,
    parse_beats,
    synth_track,
)
from evalkit.data.synth.pipeline import SynthConfig, build_clip, generate
from evalkit.data.synth.skeleton import SMPL_PARENTS
from evalkit.errors import EvalkitError

CFG = SynthConfig(train=1, test=5, seconds=3.0, size=64, fps=30.0, seed=7)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sdgpip") / "data"
    generate(out, SynthConfig(**vars(CFG)))
    return out


def clip_motion(seed, seconds=6.0, fps=30.0, genre=None):
    rng = np.random.default_rng(seed)
    track = synth_track(rng, seconds, genre=genre)
    dancer = Dancer.random(rng)
    motion = choreograph(track.beats, track.positions, beat_strength(track), seconds, fps, dancer, rng,
                         period=60 / track.bpm)
    motion.info["dancer"] = dancer
    return track, motion


# ---------------------------------------------------------------------------------------------- music
def test_music_is_seeded_with_exact_beat_grid():
    a, b = synth_track(np.random.default_rng(3), 5.0), synth_track(np.random.default_rng(3), 5.0)
    assert np.array_equal(a.audio, b.audio) and np.array_equal(a.beats, b.beats)
    for seed in range(12):
        t = synth_track(np.random.default_rng(seed), 5.0)
        assert BPM_RANGE[0] <= t.bpm <= BPM_RANGE[1]
        np.testing.assert_allclose(np.diff(t.beats), 60.0 / t.bpm, atol=1e-12)
        assert t.beats[0] > 0 and t.beats[-1] < 5.0 and t.audio.shape == (5 * t.sample_rate,)
        assert set(np.diff(t.positions) % 4) == {1}  # 1,2,3,4,1,…
        times, pos = parse_beats(t.beats_text())
        assert np.array_equal(times, t.beats) and np.array_equal(pos, t.positions)  # saved beats read back exactly
    assert len({synth_track(np.random.default_rng(s), 2.0).genre for s in range(40)}) == len(GENRES)


def test_beats_are_where_the_onsets_are():
    # Oracle: librosa's beat tracker, told the tempo, places its beats (the phase) on the saved beats.
    librosa = pytest.importorskip("librosa")
    mir_eval = pytest.importorskip("mir_eval")
    scores = []
    for i, genre in enumerate(GENRES):
        for k in range(2):
            t = synth_track(np.random.default_rng(1000 + k), 6.0, genre=genre.code)
            _, est = librosa.beat.beat_track(y=t.audio, sr=t.sample_rate, bpm=t.bpm, units="time")
            scores.append(mir_eval.beat.f_measure(t.beats, est))
    # F-measure (±70 ms): librosa occasionally locks half a beat off on a 6 s clip, so median and count
    assert np.median(scores) >= 0.9 and np.sum(np.array(scores) >= 0.7) >= 10, scores


# ---------------------------------------------------------------------------------------------- motion
def test_motion_stops_on_every_beat():
    for seed in range(4):
        track, motion = clip_motion(seed)
        assert motion.joints.shape == (180, 24, 3) and np.isfinite(motion.joints).all()
        speed = kinetic_velocity(motion.joints)  # speed[i] between frames i and i+1
        frames = track.beats * motion.fps
        period = 60 / track.bpm * motion.fps
        inner = frames[(frames - period / 4 >= 0) & (frames + period / 4 < len(speed) - 1)]
        for f in inner:  # the slowest moment within ±1/4 beat of a beat is within 1 frame of the beat
            lo, hi = int(np.floor(f - period / 4)), int(np.ceil(f + period / 4))
            slowest = lo + int(np.argmin(speed[lo:hi])) + 0.5  # speed samples sit between frames
            assert abs(slowest - f) <= 1.0, (seed, f, slowest)
        mid = frames[:-1] + period / 2
        mid = mid[(mid > 1) & (mid < len(speed) - 1)].astype(int)
        assert speed[mid].mean() > 3 * speed[np.round(inner).astype(int)].mean()
        assert motion.joints[..., 1].min() > -1e-6  # feet never below the floor


def test_amplitude_follows_onset_strength():
    rng = np.random.default_rng(5)
    track = synth_track(rng, 8.0)
    dancer = Dancer.random(rng)
    kw = {"duration": 8.0, "fps": 30.0, "dancer": dancer, "period": 60 / track.bpm}
    loud = choreograph(track.beats, track.positions, np.ones(len(track.beats)), rng=np.random.default_rng(1), **kw)
    soft = choreograph(track.beats, track.positions, np.full(len(track.beats), 0.3), rng=np.random.default_rng(1), **kw)
    # amplitude 0.5 + 0.5·strength: 1.0 vs 0.65 of the move (the ease-in-out keeps the timing)
    assert kinetic_velocity(loud.joints).mean() > 1.3 * kinetic_velocity(soft.joints).mean()


def test_chords_pick_the_moves():
    """choreography="harmony": each bar dances HARMONY[its chord] whoever dances and whatever the seed; the
    same chords give the same joints up to the dancer's body and the small per-beat noise; random mode ignores
    the chords and follows the seed."""
    from evalkit.data.synth.motion import HARMONY

    rng = np.random.default_rng(21)
    track = synth_track(rng, 8.0)
    kw = {"duration": 8.0, "fps": 30.0, "period": 60 / track.bpm}
    a, b = Dancer.random(np.random.default_rng(1)), Dancer.random(np.random.default_rng(2))
    m1 = choreograph(track.beats, track.positions, beat_strength(track), dancer=a, rng=np.random.default_rng(3),
                     chords=track.chords, **kw)
    m2 = choreograph(track.beats, track.positions, beat_strength(track), dancer=b, rng=np.random.default_rng(4),
                     chords=track.chords, **kw)
    # one move per bar of the extended grid: the pre-roll bar takes the first chord, then one per music bar
    n = len(m1.info["moves_per_bar"])
    want = [HARMONY[int(track.chords[min(max(i - 1, 0), len(track.chords) - 1)])][0] for i in range(n)]
    assert m1.info["moves_per_bar"] == m2.info["moves_per_bar"] == want
    assert len(set(want)) > 1
    r1 = choreograph(track.beats, track.positions, beat_strength(track), dancer=a, rng=np.random.default_rng(3), **kw)
    r2 = choreograph(track.beats, track.positions, beat_strength(track), dancer=a, rng=np.random.default_rng(4), **kw)
    assert r1.info["moves_per_bar"] != r2.info["moves_per_bar"]  # seeds 3 and 4 draw different bars
    with pytest.raises(EvalkitError, match="pitch classes"):
        choreograph(track.beats, track.positions, beat_strength(track), dancer=a, rng=rng, chords=[12], **kw)


def test_chords_are_audible_in_chroma(tmp_path):
    """The choreography follows the chords, so the chord must be in the music features a model gets:
    a major/minor triad template on each bar's mean EDGE chroma (librosa chroma_cens) names the root on
    at least 75 % of bars (measured 30 of 32 bars on 12 tracks at pad gain 0.4)."""
    import soundfile as sf

    from evalkit.models.m2p.music import edge35_features

    hits = total = 0
    for seed in range(6):
        track = synth_track(np.random.default_rng(100 + seed), 6.0)
        path = tmp_path / f"t{seed}.wav"
        sf.write(path, track.audio, track.sample_rate)
        chroma = edge35_features(path, 10.0)[:, 21:33]
        beat_s, t0 = 60 / track.bpm, track.info["first_beat"]
        template = np.zeros(12)
        template[[0, 3 if track.info["minor"] else 4, 7]] = 1
        for b, pc in enumerate(track.chords):
            lo, hi = int((t0 + b * 4 * beat_s) * 10) + 2, int((t0 + (b + 1) * 4 * beat_s) * 10) - 1
            if hi > len(chroma) or hi <= lo:
                continue
            mean = chroma[lo:hi].mean(0)
            hits += int(np.argmax([np.roll(template, r) @ mean for r in range(12)]) == pc)
            total += 1
    assert total >= 12 and hits >= 0.75 * total, (hits, total)


def test_kinematics_rigid_and_rotations_round_trip():
    from scipy.spatial.transform import Rotation  # oracle

    _, motion = clip_motion(11, seconds=2.0)
    rest = motion.info["dancer"].rest
    parents = list(SMPL_PARENTS[1:])
    bones = np.linalg.norm(motion.joints[:, 1:] - motion.joints[:, parents], axis=-1)
    np.testing.assert_allclose(bones, np.broadcast_to(np.linalg.norm(offsets_of(rest)[1:], axis=-1), bones.shape),
                               atol=1e-9)  # rigid bones (tolerance: float rounding)
    mats = rotvec_to_matrices(motion.poses)
    np.testing.assert_allclose(mats, Rotation.from_rotvec(motion.poses.reshape(-1, 3)).as_matrix().reshape(mats.shape),
                               atol=1e-12)
    np.testing.assert_allclose(matrices_to_rotvec(mats), motion.poses, atol=1e-9)
    # FK of the stored axis-angle poses and root reproduces the joints (before the floor shift: same up to y)
    joints = forward_kinematics(mats, motion.trans, offsets_of(rest))
    np.testing.assert_allclose(joints, motion.joints, atol=1e-6)
    ch = np.random.default_rng(0).normal(size=(24, 3))
    np.testing.assert_array_equal(mirror(mirror(ch)), ch)


def test_edge_pickles(tmp_path):
    _, motion = clip_motion(2, seconds=2.0)
    to_z_up = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # EDGE's +90° about x
    full = tmp_path / "full.pkl"
    full.write_bytes(pickle.dumps({"full_pose": motion.joints @ to_z_up.T, "smpl_poses": np.zeros((60, 72)),
                                   "smpl_trans": np.zeros((60, 3))}))
    m = load_edge_pkl(full)
    np.testing.assert_allclose(m.joints, motion.joints, atol=1e-12)
    assert m.fps == 30.0 and m.info["joints_from"] == "full_pose"
    # poses only: forward kinematics; a z-up pose maps back to the y-up skeleton standing on its feet
    poses = np.zeros((5, 24, 3))
    poses[:, 0] = [np.pi / 2, 0, 0]  # EDGE's root rotation of an upright y-up body
    trans = np.tile([0.0, 0.0, 0.95], (5, 1))  # z-up pelvis height
    only = tmp_path / "poses.pkl"
    only.write_bytes(pickle.dumps({"smpl_poses": poses.reshape(5, 72), "smpl_trans": trans}))
    m = load_edge_pkl(only)
    assert m.joints.shape == (5, 24, 3) and "forward kinematics" in m.info["joints_from"]
    head, feet = m.joints[0, 15], m.joints[0, [10, 11]]
    assert head[1] > feet[:, 1].max() + 1.2 and abs(head[2] - feet[:, 2].mean()) < 0.2  # upright in y-up
    for payload, message in ((b"not a pickle", "numpy-only pickle"), (pickle.dumps([1, 2]), "expected a dict"),
                             (pickle.dumps({"a": np.zeros(3)}), "neither"),
                             (pickle.dumps({"full_pose": np.zeros((4, 17, 3))}), r"expected \(T, 24, 3\)"),
                             (pickle.dumps({"full_pose": Path("x")}), "numpy-only pickle")):
        bad = tmp_path / "bad.pkl"
        bad.write_bytes(payload)
        with pytest.raises(EvalkitError, match=message):
            load_edge_pkl(bad)


# ---------------------------------------------------------------------------------------------- dataset
def test_round_trip_through_the_aist_loader(root):
    """The AIST++ loader returns exactly the keypoints, joints, beats, frames and maps that were generated."""
    for part, first in (("train", 0), ("test", CFG.train)):
        split = AistSplit(root, part)
        assert split.name == f"synth-{part}" and split.fps == CFG.fps and not split.skipped
        samples = list(split)
        assert len(samples) == (CFG.train if part == "train" else CFG.test)
        for k, sample in enumerate(samples[:2]):
            data = build_clip(CFG, first + k)  # regenerated in memory from the seed
            assert sample.id == data.clip.video and sample.num_frames == data.clip.num_frames
            assert np.array_equal(sample.joints2d, data.maps["keypoints2d"].astype(np.float32))
            assert np.array_equal(sample.joints3d, data.motion.joints)
            np.testing.assert_allclose(sample.keypoints3d, data.keypoints3d, atol=1e-5)  # float32 cm storage
            assert np.array_equal(sample.beats, data.track.beats)
            assert np.array_equal(sample.load_video().frames, data.maps["rgb"])  # lossless mp4
            for name in ("depth", "heatmap", "normal", "semantic", "skeleton"):
                assert np.array_equal(sample.load_guidance(name), data.maps[name]), name
            from PIL import Image

            assert np.array_equal(np.asarray(Image.open(sample.reference)), data.reference)
            # the reference's own keypoints (a relaxed stance, not frame 0's)
            assert np.array_equal(sample.reference_joints2d, data.reference_keypoints.astype(np.float32))
            assert not np.array_equal(sample.reference_joints2d, sample.joints2d[0])
            assert sample.crop is None and sample.meta["frame_size"] == (CFG.size, CFG.size)


def test_generation_is_byte_identical_for_any_jobs(root, tmp_path):
    cfg = SynthConfig(**{**vars(CFG), "test": 2})
    again = generate(tmp_path / "again", cfg, jobs=2)
    assert len(again["clips"]) == 3
    for path in (tmp_path / "again").rglob("*"):
        if path.is_file():
            rel = path.relative_to(tmp_path / "again")
            if rel.parts[0] == "splits" or rel.name in ("sdgpip.json", "mapping.txt"):
                continue  # these list the clip count, which differs here
            assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256((root / rel).read_bytes()).digest(), rel


def test_dancers_are_in_sync_with_their_own_music(root):
    """2D-BeatAlign (music → motion) of the ground-truth dancers' keypoints: own music clearly above the
    next clip's music, over the test split."""
    from evalkit.audio.beats import times_to_frames
    from evalkit.metrics.beat_align import beat_align_2d

    samples = list(AistSplit(root, "test"))
    own, other = [], []
    for i, s in enumerate(samples):
        track = s.pose_track()
        foreign = samples[(i + 1) % len(samples)]
        own.append(beat_align_2d(track, times_to_frames(s.beats, s.fps, s.num_frames)[0])["beat_align"])
        other.append(beat_align_2d(track, times_to_frames(foreign.beats, s.fps, s.num_frames)[0])["beat_align"])
    own, other = np.array(own), np.array(other)
    assert own.mean() > other.mean() + 0.25, (own, other)  # tolerance: a gap of 0.25 on the 0–1 scale
    assert (own > other).mean() >= 0.8, (own, other)


def test_bad_synth_settings_are_refused(tmp_path):
    with pytest.raises(EvalkitError, match="size=30.*seconds=0.5|seconds=0.5.*size=30"):
        generate(tmp_path / "x", SynthConfig(size=30, seconds=0.5))
    with pytest.raises(EvalkitError, match="choreography='dance'"):
        generate(tmp_path / "y", SynthConfig(choreography="dance"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(EvalkitError, match="not empty"):
        generate(tmp_path / "full", SynthConfig(train=1, test=0, seconds=1.0, size=32))


def test_default_split_made_once_in_the_cache(tmp_path, monkeypatch):
    from evalkit.data import registry
    from evalkit.data.synth import default

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(default, "default_config",
                        lambda seed=0: SynthConfig(train=1, test=1, seconds=1.5, size=32, fps=10.0, seed=seed))
    split = registry.get_split("synth", "test")
    assert len(split) == 1 and split.name == "synth-test"
    root = default.default_root()
    assert root.parent == tmp_path / "cache" / "data" and not list(root.parent.glob("*.tmp-*"))
    stamp = (root / "sdgpip.json").stat().st_mtime_ns
    assert len(registry.get_split("synth", "train")) == 1
    assert (root / "sdgpip.json").stat().st_mtime_ns == stamp  # reused, not regenerated
    with pytest.raises(EvalkitError, match="train and test"):
        registry.get_split("synth", "val")


def test_default_split_key_follows_the_generator_code(tmp_path):
    """The cache key hashes the generator's sources: edit one and the default split is looked for elsewhere
    (a version-only key served a split made by older generator code); README figures do not count."""
    import shutil

    from evalkit.data.synth import default

    src = tmp_path / "synth"
    shutil.copytree(Path(default.__file__).parent, src, ignore=shutil.ignore_patterns("__pycache__"))
    assert default.generator_fingerprint(src) == default.generator_fingerprint()
    assert default.generator_fingerprint() in default.default_root().name
    (src / "figures.py").write_text("# only figures\n")
    assert default.generator_fingerprint(src) == default.generator_fingerprint()
    (src / "motion.py").write_text((src / "motion.py").read_text() + "\n# a change\n")
    assert default.generator_fingerprint(src) != default.generator_fingerprint()


def test_cli_synth_ls_validate(tmp_path, capsys):
    from evalkit.cli import main

    out = tmp_path / "cli"
    assert main(["data", "synth", "--out", str(out), "--train", "1", "--test", "1", "--seconds", "1.5",
                 "--size", "32", "--fps", "10", "--maps", "rgb,skeleton", "--jobs", "1"]) == 0
    assert sorted(p.name for p in (out / "guidance").iterdir()) == ["skeleton"]
    assert main(["data", "validate", str(out), "--dataset", "synth"]) == 0
    assert main(["data", "ls", "synth", "--root", str(out), "--part", "train"]) == 0
    text = capsys.readouterr().out
    assert "valid synth dataset" in text and "synth-train: 1 sample(s)" in text
    assert main(["data", "synth", "--out", str(out)]) == 2  # not empty: one-line error, exit 2
    assert "not empty" in capsys.readouterr().err


def test_validate_synth_root(root, tmp_path):
    from evalkit.data.registry import validate

    assert validate("synth", root) == []
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    victim = sorted((broken / "guidance" / "depth").iterdir())[0]
    victim.unlink()
    (broken / "reference" / f"{victim.stem}.png").write_bytes(b"")
    problems = validate("synth", broken)
    assert problems == [f"{broken / 'reference' / victim.stem}.png: missing or empty", f"{victim}: missing or empty"]
