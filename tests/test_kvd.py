"""KVD: the unbiased polynomial-kernel MMD² against a direct double loop, its jackknife SE against a
brute-force leave-one-out, and the metric on FVD's feature pipeline (streaming, shards, cap, cache key)."""
import math
import warnings

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.metrics import build
from evalkit.metrics.fvd import FVD
from evalkit.metrics.kvd import KVD, kvd_from_features
from test_fvd import PixelFeatures, items  # the FVD tests' cheap stand-in for I3D and their synthetic videos


def double_loop_mmd(x, y, d):
    """Independent reference: the unbiased MMD² written as plain Python loops over pairs."""
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("shift", [0.0, 0.7])
def test_kvd_equals_double_loop(shift):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(13, 6)), rng.normal(shift, 1.0, size=(9, 6))
    got = kvd_from_features(x, y)
    assert got["kvd"] == pytest.approx(double_loop_mmd(x, y, 6), rel=1e-12, abs=1e-14)
    assert (got["m"], got["n"]) == (13, 9)


def test_jackknife_se_equals_leave_one_out_recomputation():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 5)), rng.normal(0.3, 1.0, size=(7, 5))
    loo_x = np.array([double_loop_mmd(np.delete(x, i, 0), y, 5) for i in range(8)])
    loo_y = np.array([double_loop_mmd(x, np.delete(y, j, 0), 5) for j in range(7)])
    var = 7 / 8 * ((loo_x - loo_x.mean()) ** 2).sum() + 6 / 7 * ((loo_y - loo_y.mean()) ** 2).sum()
    assert kvd_from_features(x, y)["se"] == pytest.approx(math.sqrt(var), rel=1e-10)


def test_kvd_is_unbiased_where_fd_is_not():
    """Same distribution on both sides: the mean KVD over 200 draws is 0 within 3 SE of that mean."""
    rng = np.random.default_rng(5)
    vals = [kvd_from_features(rng.normal(size=(16, 8)), rng.normal(size=(16, 8)))["kvd"] for _ in range(200)]
    assert abs(np.mean(vals)) < 3 * np.std(vals) / math.sqrt(len(vals))


def kvd_metric(**kw):
    kw.setdefault("batch_size", 4)
    return KVD("tf", extractor=PixelFeatures(), cache=False, **kw)


def finish(m):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.compute()


def test_metric_equals_features_and_shards_merge_exactly():
    data = items(6, t=40)
    whole = kvd_metric()
    for it in data:
        whole.update(it)
    out = finish(whole)
    x, y = whole.features("pred"), whole.features("gt")
    assert len(x) == 12 and len(y) == 12  # 40 frames: two 16-frame windows per video (FVD's tf protocol)
    assert out["kvd"] == pytest.approx(double_loop_mmd(x, y, 9), rel=1e-12)
    assert out["kvd_ci_low"] < out["kvd"] < out["kvd_ci_high"]
    shards = [kvd_metric(), kvd_metric()]
    for i, it in enumerate(reversed(data)):  # another order, two shards
        shards[i % 2].update(it)
    merged = finish(shards[0].merge(shards[1]))
    assert merged == out  # bit-identical: features sorted by content seed before computing


def test_same_clips_and_features_as_fvd():
    data = items(3, t=40)
    fvd, kvd = FVD("tf", extractor=PixelFeatures(), cache=False, bootstrap=0, batch_size=4), kvd_metric()
    for it in data:
        fvd.update(it)
        kvd.update(it)
    assert kvd.num_clips("pred") == fvd.num_clips("pred") == 6
    mean = kvd.features("pred").mean(0)
    np.testing.assert_allclose(mean, fvd.side_sums("pred")["sum"] / 6, rtol=1e-12)
    assert kvd.feature_settings("gt") == fvd.feature_settings("gt")  # one feature cache for both


def test_cap_keeps_smallest_seeds_and_warns():
    m, full = kvd_metric(max_clips=5), kvd_metric()
    for it in items(4, t=40):
        m.update(it)
        full.update(it)
    np.testing.assert_array_equal(np.sort(m._state["pred_keys"]), np.sort(full._state["pred_keys"])[:5])
    with pytest.warns(UserWarning, match="memory cap"):
        m.compute()


def test_bad_settings_are_errors():
    with pytest.raises(EvalkitError, match="holds only sums"):
        build("kvd", gt_stats="/x.npz")
    with pytest.raises(EvalkitError, match="bootstrap"):
        KVD("tf", bootstrap=10)
    assert KVD.presets["stylegan-v"]["max_clips"] == 2048 and KVD.presets["tf"]["max_clips"] == 8192
    assert "ddof" not in KVD.presets["tf"]
