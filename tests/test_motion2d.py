"""FID_k2d / FID_g2d / Div_k2d (evalkit's 2D variants of Bailando's motion metrics, docs/motion-metrics.md):
the properties the definition must have, on real AIST++ 2D dance keypoints (shared/data/aist/keypoints2d)."""
import warnings

import numpy as np
import pytest

from evalkit.metrics import metric_class
from evalkit.metrics.motion2d import DivK2D, FIDG2D, FIDK2D
from evalkit.motion.features_2d import GEOMETRIC_DIMS, KINETIC_DIMS, features_2d
from evalkit.pose.track import PoseTrack

CHUNK = 150  # frames per "video" (5 s at 30 fps)


def _track(joints, present=None, fps=30.0) -> PoseTrack:
    t = len(joints)
    present = np.ones(t, bool) if present is None else present
    conf = np.where(present[:, None], 1.0, 0.0) * np.ones((t, 17))
    return PoseTrack(np.asarray(joints, float), conf, present, fps, (1080, 1920), {})


@pytest.fixture(scope="module")
def chunks(shared):
    """46 five-second pieces of the six real AIST++ sequences, in pixels of the 1920x1080 camera."""
    folder = shared / "data" / "aist" / "keypoints2d"
    scaler = np.load(folder / "kps_scaler_mean_scale.npz")
    seqs = [np.load(f).reshape(-1, 17, 2) * scaler["scale"] + scaler["mean"] for f in sorted(folder.glob("*.npy"))]
    return [s[i:i + CHUNK] for s in seqs for i in range(0, len(s) - CHUNK, CHUNK)]


def _score(cls, gt, pred):
    metric = cls()
    for c in gt:
        metric.add_track("gt", _track(c))
    for c in pred:
        metric.add_track("pred", _track(c))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular covariances (23 videos, 51 dims) are warned about
        return metric.compute()


def test_registered():
    assert metric_class("fid_k2d") is FIDK2D and metric_class("fid_g2d") is FIDG2D and metric_class("div_k2d") is DivK2D


def test_invariant_to_image_scale_and_translation(chunks):
    """The same dance filmed larger and elsewhere in the frame (and at a different pixel grid) has the same
    features: joints are in body sizes."""
    base = features_2d(_track(chunks[0]))
    moved = features_2d(_track(chunks[0] * 2.5 + np.array([300.0, -40.0])))
    assert base.kinetic.shape == (KINETIC_DIMS,) and base.geometric.shape == (GEOMETRIC_DIMS,)
    assert np.isfinite(base.kinetic).all() and np.isfinite(base.geometric).all()
    np.testing.assert_allclose(moved.kinetic, base.kinetic, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(moved.geometric, base.geometric, rtol=0, atol=1e-12)
    assert moved.scale_px == pytest.approx(2.5 * base.scale_px, rel=1e-12)


def test_ground_truth_against_itself_is_zero(chunks):
    gt = chunks[0::2]
    assert abs(_score(FIDK2D, gt, gt)["fid_k2d"]) < 1e-9
    assert abs(_score(FIDG2D, gt, gt)["fid_g2d"]) < 1e-9
    div = _score(DivK2D, gt, gt)
    assert div["div_k2d"] == div["div_k2d_gt"] > 1.0


def test_still_dancer_is_far_from_dancing(chunks):
    """Other real dance pieces sit near the ground truth; the same dancers standing still (first frame held)
    are far from it: at least 10x the real pieces' distance, and no kinetic diversity at all."""
    gt, real = chunks[0::2], chunks[1::2]
    still = [np.repeat(c[:1], len(c), axis=0) for c in real]
    for cls, key in ((FIDK2D, "fid_k2d"), (FIDG2D, "fid_g2d")):
        near, far = _score(cls, gt, real)[key], _score(cls, gt, still)[key]
        assert 0 < near and far > 10 * near, (key, near, far)
    assert _score(DivK2D, gt, still)["div_k2d"] == 0.0
    assert _score(DivK2D, gt, real)["div_k2d"] > 1.0


def test_frames_without_a_person_never_count(chunks):
    """As 2D-BeatAlign: frames without a person are left out (counted); what a pose model reported there
    does not change the features."""
    present = np.ones(CHUNK, bool)
    present[50:70] = False
    a, b = chunks[3].copy(), chunks[3].copy()
    a[50:70] = np.nan
    b[50:70] = 1e6  # garbage where no person was found
    fa, fb = features_2d(_track(a, present)), features_2d(_track(b, present))
    assert fa.counts["frames_no_person"] == 20
    np.testing.assert_array_equal(fa.kinetic, fb.kinetic)
    np.testing.assert_array_equal(fa.geometric, fb.geometric)
    assert np.isfinite(fa.kinetic).all()


def test_video_without_person_is_counted_and_shards_merge(chunks):
    nobody = _track(np.full((CHUNK, 17, 2), np.nan), np.zeros(CHUNK, bool))
    single, a, b = FIDK2D(), FIDK2D(), FIDK2D()
    for i, c in enumerate(chunks[:12]):
        for metric in (single, a if i < 5 else b):
            metric.add_track("gt" if i % 2 else "pred", _track(c))
    for metric in (single, b):
        metric.add_track("pred", nobody)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = single.compute()["fid_k2d"]
        assert a.merge(b).compute()["fid_k2d"] == pytest.approx(want, rel=1e-12)
    assert single.counts()["videos_unusable_pred"] == 1 and single.counts()["videos_pred"] == 6
    lonely = FIDK2D()
    lonely.add_track("pred", _track(chunks[0]))
    lonely.add_track("gt", _track(chunks[1]))
    with pytest.warns(UserWarning, match="at least 2 usable videos"):
        assert np.isnan(lonely.compute()["fid_k2d"])


def test_score_cli_with_keypoint_files(chunks, tmp_path, capsys):
    """End to end through `evalkit score`: videos with COCO-17 keypoint files beside them (pose=keypoints)."""
    import json

    from evalkit.cli import main
    from evalkit.io.video import write_video

    blank = np.zeros((60, 64, 64, 3), np.uint8)
    for side, pieces in (("pred", chunks[1:8:2]), ("gt", chunks[0:8:2])):
        for i, piece in enumerate(pieces):
            write_video(tmp_path / side / f"v{i}.mp4", blank, 30.0)
            np.save(tmp_path / side / f"v{i}.npy", piece[:60] / 30.0)  # pixels of the 64x64 frame, roughly
    code = main(["score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-m",
                 "fid_k2d,fid_g2d,div_k2d", "--opt", "fid_k2d.pose=keypoints", "--opt", "fid_g2d.pose=keypoints",
                 "--opt", "div_k2d.pose=keypoints", "--out", str(tmp_path / "out"), "--format", "csv"])
    capsys.readouterr()
    assert code == 0
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    values = {r["column"]: r["value"] for r in record["aggregate"]}
    assert values["fid_k2d"] > 0 and values["fid_g2d"] > 0 and values["div_k2d"] > 0 and values["div_k2d_gt"] > 0
    assert record["metrics"]["fid_k2d"]["counts"]["videos_pred"] == 4


def test_dimension_constant_in_ground_truth_keeps_its_units():
    """Bailando divides a dimension that is constant over the ground truth by 1e-10 (kept for the 3D metrics);
    the 2D variants keep it in its own units, so one such dimension cannot outweigh all others."""
    from evalkit.motion.metrics import MIN_STD_2D, normalize_by_gt

    rng = np.random.default_rng(0)
    gt = rng.normal(size=(6, 3))
    gt[:, 1] = 0.0  # e.g. "wrist above the head" never happens in the ground truth
    pred = rng.normal(size=(5, 3))
    pred[:, 1] = 0.2
    g3, p3 = normalize_by_gt(gt, pred)
    g2, p2 = normalize_by_gt(gt, pred, MIN_STD_2D)
    assert p3[0, 1] == pytest.approx(0.2 / 1e-10)
    np.testing.assert_allclose(p2[:, 1], 0.2)
    np.testing.assert_allclose(p2[:, [0, 2]], p3[:, [0, 2]], rtol=1e-9)
    np.testing.assert_allclose(g2[:, 1], 0.0)
