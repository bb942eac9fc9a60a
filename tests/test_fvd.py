"""FVD metric: protocols, streaming/merging, bootstrap, feature cache, statistics files, the golden
sanity FVDs with the real I3D, and ``evalkit stats make`` / ``score --gt-stats``.

Streaming and protocol tests use a cheap deterministic stand-in for I3D (pixel statistics of each
clip, 9-d) so they exercise clip sampling, resizing, batching and statistics in well under a second;
tests with the real network are marked and skip without the weights.
"""
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from evalkit.errors import EvalkitError
from evalkit.features.clips import plan_clips
from evalkit.features.resize import (
    prepare_frames, resize_pil_bicubic, resize_shortside_crop, resize_tf1_bilinear, shortside_crop_size,
)
from evalkit.io.item import ScoreItem
from evalkit.io.video import Video
from evalkit.metrics.fvd import FVD
from evalkit.metrics.fvd_stats import load_stats, save_stats
from evalkit.metrics.fvd_sums import poisson_weights


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


class PixelFeatures:
    """Stand-in extractor: per-channel mean, std and mean |temporal difference| of each clip (9-d)."""

    dim = 9
    info = {"name": "pixel-features (test)", "tensors_sha256": "test-pixel-features-v1"}

    def __init__(self):
        self.clips = 0

    def __call__(self, x):
        self.clips += len(x)
        x = x[:, :, :, ::4, ::4].double()  # a spatial subsample keeps the stand-in cheap
        diff = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((2, 3, 4))
        # x100: logit-like magnitudes (TF-GAN's absolute 1e-10 threshold assumes such a scale)
        return (torch.cat([x.mean((2, 3, 4)), x.std((2, 3, 4)), diff], 1) * 100).float()


@pytest.fixture(autouse=True)
def feature_cache(tmp_path, monkeypatch):
    """Every test gets its own feature cache directory."""
    import evalkit.features.cache as cache_mod

    root = tmp_path / "cache"
    monkeypatch.setattr(cache_mod, "cache_dir", lambda *parts: root.joinpath(*parts))
    return root


def video(seed, t=20, h=24, w=32, path=None):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (1, h, w, 3))
    drift = rng.integers(-20, 21, (t, 1, 1, 3)).cumsum(0)
    frames = np.clip(base + drift + rng.integers(-30, 31, (t, h, w, 3)), 0, 255).astype(np.uint8)
    return Video(frames, 24.0, Path(path or f"/nonexistent/v{seed}.mp4"))


def items(n, t=20, offset=0, **kw):
    return [ScoreItem(f"v{i}", video(1000 + i + offset, t, **kw), video(2000 + i + offset, t, **kw))
            for i in range(n)]


def metric(protocol="tf", **kw):
    kw.setdefault("bootstrap", 16)
    kw.setdefault("batch_size", 4)
    return FVD(protocol, extractor=PixelFeatures(), **kw)


def run(m, data):
    for it in data:
        m.update(it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.compute()


# --- resize kernels ------------------------------------------------------------------------------------
def test_tf1_legacy_bilinear_subsamples_on_exact_halving():
    # legacy (not half-pixel) source coordinate i*in/out: halving picks every other pixel, no averaging
    x = torch.rand(2, 3, 448, 448) * 255
    assert torch.equal(resize_tf1_bilinear(x), x[..., ::2, ::2])


def test_tf1_legacy_bilinear_matches_a_literal_loop():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (13, 17)).astype(np.float64)

    def literal(n_in, n_out, i):  # TF1 LegacyScaler: in = i * (in/out); lo = floor, hi = min(ceil, n-1)
        src = i * (n_in / n_out)
        return int(math.floor(src)), min(int(math.ceil(src)), n_in - 1), src - math.floor(src)

    ref = np.empty((224, 224))
    for y in range(224):
        y0, y1, yl = literal(13, 224, y)
        for x in range(224):
            x0, x1, xl = literal(17, 224, x)
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * xl
            bottom = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * xl
            ref[y, x] = top + (bottom - top) * yl
    ours = resize_tf1_bilinear(torch.from_numpy(img)[None]).double().numpy()[0]
    assert np.abs(ours - ref).max() < 1e-3  # float32 vs float64 arithmetic on 0..255 values
    hwc = resize_tf1_bilinear(torch.from_numpy(img)[:, :, None].repeat(1, 1, 3), channels_last=True)
    assert torch.equal(hwc[..., 1], resize_tf1_bilinear(torch.from_numpy(img)[None])[0])  # layouts agree exactly
    half_pixel = F.interpolate(torch.from_numpy(img)[None, None], size=(224, 224), mode="bilinear",
                               align_corners=False)[0, 0].numpy()
    assert np.abs(half_pixel - ref).max() > 10  # torch's half-pixel bilinear is a different kernel


def test_pil_bicubic_is_pillow_float_per_channel_without_clipping():
    from PIL import Image

    frames = np.zeros((1, 40, 40, 3), np.uint8)
    frames[:, :, 20:] = 255  # a step edge: bicubic overshoots
    out = resize_pil_bicubic(frames)
    direct = np.asarray(Image.fromarray(frames[0, :, :, 1].astype(np.float32)).resize((224, 224), Image.BICUBIC))
    assert np.array_equal(out[0, 1], direct)
    assert out.max() > 255 and out.min() < 0  # the overshoot is kept, as in DisCo
    x = prepare_frames(frames, "pil-bicubic")
    assert torch.allclose(x, torch.from_numpy(out) / 127.5 - 1)


def test_shortside_crop_keeps_aspect_and_centres():
    assert shortside_crop_size(48, 64) == (224, 299)  # long side rounded up
    assert shortside_crop_size(100, 60) == (374, 224)
    x = torch.rand(2, 3, 48, 64)
    full = F.interpolate(x, size=(224, 299), mode="bilinear", align_corners=False)
    assert torch.equal(resize_shortside_crop(x), full[..., :, 37:261])


# --- clip sampling and protocols -----------------------------------------------------------------------
def test_clip_plans_per_mode():
    assert [c.start for c in plan_clips(40, "windows", 16, 16, "id")] == [0, 16]
    assert [c.start for c in plan_clips(20, "windows", 16, 1, "id")] == [0, 1, 2, 3, 4]
    assert plan_clips(15, "windows", 16, 16, "id") == []
    assert [(c.start, c.length) for c in plan_clips(33, "whole", 0, 0, "id", 10)] == [(0, 33)]
    assert plan_clips(9, "whole", 0, 0, "id", 10) == []
    offsets = {plan_clips(100, "random", 16, 16, f"id{i}")[0].start for i in range(20)}
    assert len(offsets) > 5 and all(0 <= o <= 84 for o in offsets)
    assert plan_clips(100, "random", 16, 16, "id3") == plan_clips(100, "random", 16, 16, "id3")  # reproducible
    assert plan_clips(100, "first", 16, 16, "id3")[0].start == 0


def test_tf_protocol_tiles_and_records_its_identity():
    m = metric("tf")
    data = items(3, t=40) + [ScoreItem("short", video(7, t=15), video(8, t=15))]
    run(m, data)
    counts = m.counts()
    assert counts["clips_pred"] == 6 and counts["clips_gt"] == 6  # 2 non-overlapping 16-frame clips each
    assert counts["videos_short_pred"] == 1 and counts["videos_pred"] == 4  # counted, never dropped silently
    ident = m.identity()
    assert ident["N"] == {"pred": 6, "gt": 6}
    assert (ident["frames_per_clip"], ident["stride"], ident["resolution"]) == (16, 16, 224)
    assert ident["resize"] == "tf1-bilinear"
    assert ident["covariance"] == "N-1" and ident["sqrt"] == "tfgan"
    assert ident["weights"]["tensors_sha256"] == "test-pixel-features-v1"


def test_default_identity_names_the_pinned_weights():
    from evalkit.weights.i3d import SPEC

    ident = FVD().identity()
    assert ident["protocol"] == "tf" and ident["reference_mode"] is True
    assert ident["weights"]["tensors_sha256"] == SPEC.tensors_sha256
    assert FVD(protocol="jh").preset == "jh"


def test_fvd_of_a_set_with_itself_is_zero():
    data = [ScoreItem(f"v{i}", video(i, t=16), video(i, t=16)) for i in range(12)]
    r = run(metric("tf"), data)
    assert abs(r["fvd"]) < 1e-6  # tolerance: 1e-6 absolute


@pytest.mark.parametrize("protocol,extra", [("tf", {}), ("disco", {}), ("jh", {}),
                                            ("stylegan-v", {"max_clips": 5})])
def test_sharded_equals_single_process(protocol, extra):
    data = items(12, t=18)  # N > feature dim: with a singular covariance scipy's sqrtm amplifies round-off
    single = run(metric(protocol, **extra), data)
    a, b = metric(protocol, **extra), metric(protocol, **extra)
    run(a, data[::2])
    run(b, data[1::2])
    merged = a.merge(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = merged.compute()
    for key in ("fvd", "fvd_ci_low", "fvd_ci_high"):
        assert result[key] == pytest.approx(single[key], rel=1e-9, abs=1e-9)  # tolerance: 1e-9


def test_state_dict_round_trip_and_order_independence():
    data = items(6, t=32)
    m = metric("tf")
    first = run(m, data)
    fresh = metric("tf")
    fresh.load_state_dict(m.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fresh.compute() == first
    shuffled = run(metric("tf"), data[::-1])  # bootstrap weights follow content, not order
    for key in first:
        assert shuffled[key] == pytest.approx(first[key], rel=1e-9, abs=1e-9)


def test_clone_settles_shares_the_network_and_owns_its_sums():
    """A clone (a worker's fresh state, a shard's merge) is a settled copy: queued clips are added first, the
    network is shared, and the two sets of sums grow apart afterwards."""
    data = items(6, t=32)  # two 16-frame clips per video
    m = metric("tf", batch_size=64)  # a large batch: the first videos' clips are still queued at the clone
    for it in data[:3]:
        m.update(it)
    twin = m.clone()
    assert twin._extractor is m._extractor and twin.num_clips("pred") == m.num_clips("pred") == 6
    for it in data[3:]:
        twin.update(it)
    assert m.num_clips("pred") == 6 and twin.num_clips("pred") == 12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run(m, data[3:]) == twin.compute() == run(metric("tf"), data)  # exact: same sums, same order


def test_stylegan_v_uses_population_covariance_and_one_clip_per_video():
    m = metric("stylegan-v")
    data = items(10, t=40)
    r = run(m, data)
    assert m.counts()["clips_gt"] == 10 and m.counts()["clips_pred"] == 10
    pred, gt = m._state["pred_feats"], m._state["gt_feats"]  # the capped protocol keeps features
    def fd(ddof):
        m1, m2 = pred.mean(0), gt.mean(0)
        s1, s2 = np.cov(pred, rowvar=False, ddof=ddof), np.cov(gt, rowvar=False, ddof=ddof)
        return float(np.real(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2))))
    assert r["fvd"] == pytest.approx(fd(0), rel=1e-6)  # /N, as StyleGAN-V (scipy sqrtm route)
    assert abs(r["fvd"] - fd(1)) > 1e-3 * abs(fd(1))  # the N-1 value differs at N=10
    # real clips start at a content-seeded random offset, fake clips at frame 0
    gt_starts = [m.plan("gt", 40, f"id{i}")[0].start for i in range(10)]
    assert any(s > 0 for s in gt_starts) and all(m.plan("pred", 40, f"id{i}")[0].start == 0 for i in range(10))


def test_stylegan_v_cap_keeps_the_same_clips_in_any_order():
    data = items(7, t=20)
    a, b = metric("stylegan-v", max_clips=4), metric("stylegan-v", max_clips=4)
    run(a, data)
    run(b, data[::-1])
    assert a.counts()["clips_gt"] == 4
    assert np.array_equal(np.sort(a._state["gt_keys"]), np.sort(b._state["gt_keys"]))


def test_disco_differs_from_tf_by_kernel_and_sliding_windows():
    m = metric("disco")
    run(m, items(3, t=20))
    assert m.counts()["clips_gt"] == 3 * 5  # every 16-frame window, stride 1
    frames = video(5, t=4).frames
    assert not torch.allclose(prepare_frames(frames, "pil-bicubic"), prepare_frames(frames, "tf1-bilinear"), atol=1e-2)
    whole = metric("disco", gt_clips="whole", pred_clips="whole")
    run(whole, items(3, t=20))
    assert whole.counts()["clips_gt"] == 3  # one clip per file (DisCo's per-GIF clips)


def test_jh_takes_all_frames_after_shortside_crop():
    m = metric("jh")
    data = items(4, t=25, h=48, w=64) + [ScoreItem("short", video(9, t=9), video(10, t=9))]
    run(m, data)
    assert m.counts()["clips_gt"] == 4 and m.counts()["videos_short_gt"] == 1  # >= 10 frames required
    frames = video(3, t=2, h=48, w=64).frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    expected = (F.interpolate(x, size=(224, 299), mode="bilinear", align_corners=False)[..., 37:261] - 0.5) * 2
    assert torch.allclose(prepare_frames(frames, "shortside-crop"), expected, atol=1e-6)
    assert m.identity()["frames_per_clip"] == "all"


def test_small_n_warns_and_too_few_clips_gives_nan():
    m = metric("tf")
    for it in items(3, t=32):
        m.update(it)
    with pytest.warns(UserWarning, match="few clips"):
        r = m.compute()
    assert math.isfinite(r["fvd"]) and r["fvd_ci_low"] <= r["fvd_ci_high"]
    lonely = metric("jh")
    lonely.update(items(1, t=12)[0])
    with pytest.warns(UserWarning) as record:
        assert math.isnan(lonely.compute()["fvd"])
    assert any("undefined" in str(w.message) for w in record)


def test_bf16_is_labelled_non_reference():
    ident = FVD(precision="bf16").identity()
    assert ident["reference_mode"] is False and ident["reference"].startswith("NON-REFERENCE (bf16")


def test_missing_ground_truth_is_an_evalkit_error():
    with pytest.raises(EvalkitError, match="ground-truth"):
        metric().update(ScoreItem("x", video(1), None))


def test_poisson_bootstrap_weights():
    seeds = np.arange(4000) * 7919 + 3
    w = poisson_weights(seeds, 50)
    assert np.array_equal(w, poisson_weights(seeds, 50))  # a pure function of (seed, replicate)
    assert abs(w.mean() - 1) < 0.02 and abs(w.var() - 1) < 0.05  # Poisson(1); 200k draws
    assert np.array_equal(poisson_weights(seeds[:10], 50), w[:10])


def test_gt_stats_file_round_trip_and_protocol_check(tmp_path):
    data = items(6, t=32)
    full = metric("tf")
    expected = run(full, data)
    path = save_stats(tmp_path / "gt.npz", full, "gt")
    reuse = metric("tf", gt_stats=str(path))
    assert reuse.needs == ("pred",)
    got = run(reuse, [ScoreItem(it.key, it.pred, None) for it in data])
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-9)
    assert reuse.counts()["clips_gt"] == full.counts()["clips_gt"]
    with pytest.raises(EvalkitError, match="other FVD settings"):
        metric("disco", gt_stats=str(path))
    with pytest.raises(EvalkitError, match="bootstrap"):
        metric("tf", gt_stats=str(path), bootstrap=8)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(EvalkitError, match="not an FVD statistics file"):
        load_stats(tmp_path / "junk.npz", metric("tf"))


def test_feature_cache_skips_the_extractor(feature_cache, tmp_path):
    from evalkit.features.cache import FeatureCache
    from evalkit.io.video import write_video

    paths = []
    for i in range(6):
        p = tmp_path / f"v{i}.mp4"
        write_video(p, video(i, t=32, h=32, w=32).frames, 24)
        paths.append(p)
    from evalkit.io.video import decode_video

    vids = [decode_video(p) for p in paths]
    data = [ScoreItem(f"v{i}", vids[i], vids[i + 3]) for i in range(3)]
    first = metric("tf")
    r1 = run(first, data)
    assert first._extractor.clips == 12 and first.counts()["videos_cached_pred"] == 0
    second = metric("tf")
    r2 = run(second, data)
    assert second._extractor.clips == 0 and second.counts()["videos_cached_pred"] == 3
    assert r2 == r1
    cache = FeatureCache("test-pixel-features-v1", first.feature_settings("gt"))
    from evalkit.features.cache import file_digest

    assert cache.get(file_digest(paths[0]), (32, 32, 32)) is not None
    assert cache.get(file_digest(paths[0]), (31, 32, 32)) is None  # other decoded frames: not reused


def test_worker_decoding_gives_the_same_statistics(tmp_path):
    from evalkit.cli.stats import feed_videos
    from evalkit.io.video import decode_video, write_video

    paths = [write_video(tmp_path / f"v{i}.mp4", video(i, t=18).frames, 24) for i in range(3)]
    for protocol in ("tf", "disco"):  # frames resized in the main process / Pillow-resized in the workers
        workers = metric(protocol, cache=False)
        feed_videos(workers, paths, "gt", workers=2)
        direct = metric(protocol, cache=False)
        from evalkit.features.cache import file_digest

        for p in paths:
            direct.add_video("gt", decode_video(p).frames, file_digest(p))
        a, b = workers.side_sums("gt"), direct.side_sums("gt")
        assert a["n"] == b["n"] > 0
        for key in ("sum", "outer", "boot_outer"):
            assert np.allclose(a[key], b[key], rtol=1e-12, atol=0)


# --- the real I3D ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def i3d():
    from evalkit.features.i3d import load_i3d

    try:
        load_i3d("cpu")
    except EvalkitError as err:
        pytest.skip(f"I3D weights unavailable: {err}")


def _zeros_vs_255(n, t, size, **kw):
    m = FVD("tf", gt_clips="whole", pred_clips="whole", min_frames=9, batch_size=1, bootstrap=0, **kw)
    zeros, full = np.zeros((t, size, size, 3), np.uint8), np.full((t, size, size, 3), 255, np.uint8)
    for i in range(n):  # identical videos: the cache computes each side once
        m.update(ScoreItem(f"v{i}", Video(zeros, 25.0, Path("zeros")), Video(full, 25.0, Path("full"))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.compute(), m


def test_google_example_sanity_fvd(i3d):
    # google-research frechet_video_distance example.py: 16 x 15 frames x 64x64, zeros vs 255, TF1
    # bilinear to 224 -> oracle 133.9087 ("around 131" in the docstring); covariances are 0
    r, m = _zeros_vs_255(16, 15, 64)
    assert r["fvd"] == pytest.approx(133.9087, abs=2e-3)  # tolerance: golden.md's 4 decimals + float32
    assert m.counts()["videos_cached_pred"] == 15


def test_jh_readme_sanity_fvd(i3d):
    # 30 frames 224x224 zeros vs 255 -> oracle 151.39260 (JH README, TF path: 151.39244)
    r, _ = _zeros_vs_255(2, 30, 224)
    assert r["fvd"] == pytest.approx(151.39260, abs=2e-3)


def test_cli_stats_make_and_score_with_gt_stats(i3d, tmp_path, capsys):
    from evalkit.cli import main
    from evalkit.io.video import write_video

    for side, seed in (("gt", 0), ("pred", 50)):
        for i in range(2):
            write_video(tmp_path / side / f"v{i}.mp4", video(seed + i, t=12, h=32, w=48).frames, 24)
    out = tmp_path / "gt.npz"
    rc = main(["stats", "make", str(tmp_path / "gt"), "--protocol", "jh", "--out", str(out), "--workers", "0",
               "--bootstrap", "0"])
    assert rc == 0 and "2 clips from 2 videos" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["score", "--pred", str(tmp_path / "pred"), "--gt-stats", str(out), "--metrics", "fvd",
                   "--opt", "fvd.preset=jh", "--opt", "fvd.bootstrap=0", "--format", "csv"])
    assert rc == 0 and "fvd" in capsys.readouterr().out
    rc = main(["score", "--pred", str(tmp_path / "pred"), "--gt-stats", str(out), "--metrics", "fvd",
               "--opt", "fvd.bootstrap=0"])  # default protocol tf: the file is jh
    err = capsys.readouterr().err
    assert rc == 2 and "other FVD settings" in err and len(err.strip().splitlines()) == 1
