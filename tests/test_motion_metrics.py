"""Motion metrics against the golden values of shared/data/golden_motion.md (Bailando FID_k/FID_g/Div, EDGE
PFC, measured with the unmodified reference code), the reference's feature checkpoints, and bad inputs."""
import pickle

import numpy as np
import pytest

from evalkit.cli import main
from evalkit.errors import EvalkitError
from evalkit.motion.features_geometric import geometric_features
from evalkit.motion.features_kinetic import kinetic_features
from evalkit.motion.io import load_motion
from evalkit.motion.score import score_motion

GOLDEN = {"fid_k": 77.17717386353775, "fid_g": 30.00089130619142, "div_k": 12.32608699798584,
          "div_g": 7.38840913772583, "div_k_gt": 11.671720504760742, "div_g_gt": 7.781722545623779}
GOLDEN_PFC = 7.630412760343868
REL = 1e-6  # the tolerance; float64 routes agree to 1.3e-7 (golden_motion.md)


@pytest.fixture(scope="module")
def motion(shared):
    return shared / "data" / "motion"


@pytest.fixture(scope="module")
def golden_run(motion):
    return score_motion(motion / "pred", motion / "gt", metrics=("fid_k", "fid_g", "div_k", "div_g"), bootstrap=20)


def _values(agg):
    return dict(zip(agg["column"], agg["value"]))


def test_fid_div_equal_golden(golden_run):
    got = _values(golden_run)
    for column, want in GOLDEN.items():
        assert got[column] == pytest.approx(want, rel=REL), column


def test_singular_covariance_as_the_reference(golden_run):
    """N < D: the scipy root of the singular product is complex (|imag| ~5e-8 on the diagonal), taken as its
    real part with no 1e-5 retry; always offsetting the covariances would move FID_k to 77.1444503585358."""
    record = golden_run.attrs["record"]
    assert 1e-9 < record["metrics"]["fid_k"]["sqrtm_imag"] < 1e-6
    assert abs(_values(golden_run)["fid_k"] - 77.1444503585358) > 0.03
    assert any("singular covariances" in w for w in golden_run.attrs["warnings"])
    for row in golden_run.to_dict(orient="records"):
        assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_feature_checkpoints(motion):
    p = np.load(motion / "gt" / "gt_000.npy").astype(np.float64)
    p = p - p[:1, :1]
    k = kinetic_features(p).reshape(24, 3)
    np.testing.assert_allclose(k[0], [0.19785882532596588, 0.06516458094120026, 971.2020263671875], rtol=1e-6)
    np.testing.assert_allclose(k[23], [1.5311745405197144, 0.6732491254806519, 1418.7213134765625], rtol=1e-6)
    g = geometric_features(p)
    counts = np.round(g * (len(p) - 1))
    want = [103, 109, 0, 0, 0, 0, 0, 0, 84, 115, 118, 114, 236, 238, 0, 32, 0, 0, 239, 0, 0, 234, 236, 239, 196,
            0, 0, 0, 0, 0, 0, 211]  # golden fractions × 239 frames
    np.testing.assert_array_equal(counts, want)


def test_pfc_golden_and_stride(motion):
    at30 = _values(score_motion(motion / "pred30", metrics=("pfc",), fps=30, bootstrap=20))["pfc"]
    assert at30 == pytest.approx(GOLDEN_PFC, rel=1e-12)
    # the 60 fps set brought to EDGE's 30 fps by its own stride-2 subsampling gives the same number
    at60 = _values(score_motion(motion / "pred", metrics=("pfc",), fps=60, bootstrap=20))["pfc"]
    assert at60 == pytest.approx(GOLDEN_PFC, rel=1e-12)


def test_z_up_and_pickles_read_the_same(motion, tmp_path):
    """EDGE's z-up axes with --up z, and SDGPip / Bailando pickles, give the same joints as the y-up .npy."""
    src = motion / "pred30" / "pred_000.npy"
    joints = np.load(src)
    z_up = np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)
    np.save(tmp_path / "z.npy", z_up)
    (tmp_path / "sdg.pkl").write_bytes(pickle.dumps({"smpl_joints": joints, "smpl_loss": 0.0}))
    (tmp_path / "bailando.pkl").write_bytes(pickle.dumps({"pred_position": joints.reshape(len(joints), 72)}))
    ref = load_motion(src).joints
    np.testing.assert_allclose(load_motion(tmp_path / "z.npy", up="z").joints, ref, atol=1e-7)
    np.testing.assert_array_equal(load_motion(tmp_path / "sdg.pkl").joints, ref)
    np.testing.assert_array_equal(load_motion(tmp_path / "bailando.pkl").joints, ref)


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def _cli(tmp_path, capsys, *args):
    code = main(["score-motion", *args])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_bad_inputs_exit_2(motion, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "a.npy", np.zeros((50, 17, 3), np.float32))
    code, err = _cli(tmp_path, capsys, "--pred", str(bad), "-m", "pfc")
    assert code == 2 and len(err) == 1 and "a.npy" in err[0] and "(T, 24, 3)" in err[0]

    nan = tmp_path / "nan"
    nan.mkdir()
    x = np.load(motion / "pred" / "pred_000.npy")
    x[10, 3] = np.nan
    np.save(nan / "b.npy", x)
    code, err = _cli(tmp_path, capsys, "--pred", str(nan), "-m", "pfc")
    assert code == 2 and len(err) == 1 and "b.npy" in err[0] and "NaN" in err[0]

    one = tmp_path / "one"
    one.mkdir()
    np.save(one / "c.npy", np.load(motion / "pred" / "pred_000.npy"))
    code, err = _cli(tmp_path, capsys, "--pred", str(one), "--gt", str(motion / "gt"), "-m", "fid_k")
    assert code == 2 and len(err) == 1 and "at least 2" in err[0]

    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "d.pkl").write_bytes(pickle.dumps({"full_pose": _Evil()}))
    code, err = _cli(tmp_path, capsys, "--pred", str(evil), "-m", "pfc")
    assert code == 2 and len(err) == 1 and "d.pkl" in err[0] and "refusing" in err[0]

    code, err = _cli(tmp_path, capsys, "--pred", str(motion / "pred"), "-m", "fid_k")
    assert code == 2 and "--gt" in err[0]


def test_cli_writes_results(motion, tmp_path, capsys):
    code = main(["score-motion", "--pred", str(motion / "pred30"), "--fps", "30", "-m", "pfc", "--out",
                 str(tmp_path / "o"), "--bootstrap", "20", "--format", "csv"])
    out = capsys.readouterr().out
    assert code == 0 and "pfc" in out
    import json

    record = json.loads((tmp_path / "o" / "results.json").read_text())
    assert record["aggregate"][0]["value"] == pytest.approx(GOLDEN_PFC, rel=1e-12)
    assert (tmp_path / "o" / "per_video.csv").read_text().count("\n") == 15


def test_constant_root_velocity_is_an_error(tmp_path):
    t = np.arange(40, dtype=np.float64)[:, None, None] * 0.25  # exact in binary: second differences are 0
    joints = np.zeros((40, 24, 3)) + t  # every joint moves at constant velocity: EDGE's PFC divides by 0
    np.save(tmp_path / "still.npy", joints)
    with pytest.raises(EvalkitError, match="constant velocity"):
        score_motion(tmp_path, metrics=("pfc",), fps=30)


def test_beat_align_3d_reads_music_named_like_the_motion(motion, shared, tmp_path):
    """beat_align_3d: Bailando's formula on each motion with the beats of the music file of the same name."""
    import shutil

    from evalkit.audio.beats import music_beats
    from evalkit.io.audio import decode_audio
    from evalkit.metrics.beat_align import bailando_beat_align

    track = sorted((shared / "data" / "audio" / "music_cc0").glob("*.ogg"))[0]
    (tmp_path / "m").mkdir()
    (tmp_path / "music").mkdir()
    for name in ("pred_000", "pred_001"):
        shutil.copy(motion / "pred" / f"{name}.npy", tmp_path / "m" / f"{name}.npy")
        shutil.copy(track, tmp_path / "music" / f"{name}.ogg")
    agg = score_motion(tmp_path / "m", metrics=("beat_align_3d",), music_dir=tmp_path / "music", bootstrap=20)
    audio = decode_audio(track)
    want = []
    for name in ("pred_000", "pred_001"):
        joints = np.load(motion / "pred" / f"{name}.npy").astype(np.float64)
        beats = music_beats(audio.samples, audio.sample_rate, 60.0, "bailando", len(joints))
        want.append(bailando_beat_align(joints, beats.frames))
    assert _values(agg)["beat_align_3d"] == pytest.approx(np.nanmean(want), rel=1e-12)
    assert 0.0 < _values(agg)["beat_align_3d"] <= 1.0
    with pytest.raises(EvalkitError, match="no music file"):
        (tmp_path / "music" / "pred_001.ogg").unlink()
        score_motion(tmp_path / "m", metrics=("beat_align_3d",), music_dir=tmp_path / "music")
