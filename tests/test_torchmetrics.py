"""evalkit.torchmetrics: the adapters give evalkit.score's numbers on the same frames, take float input
quantised as round(x·255), refuse bad input in one line, and merge across two gloo ranks to float64 rounding."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import evalkit
from evalkit.errors import EvalkitError
from evalkit.torchmetrics import FVD, L1, LPIPS, PSNR, SSIM, BeatAlign
from frames import random_pair

FRAME_ADAPTERS = {"ssim": SSIM, "psnr": PSNR, "l1": L1, "lpips": LPIPS}
# same functions, same per-video sums in the same order: equal to the last bits; LPIPS runs float32 networks
REL = {"ssim": 1e-12, "psnr": 1e-12, "l1": 1e-12, "lpips": 1e-6, "fvd": 1e-9, "fvd_capped": 1e-9}


class PooledFeatures:
    """A cheap stand-in for I3D (FVD's ``extractor`` option): mean, std and mean |temporal step| per channel."""

    dim = 9
    info = {"name": "pooled-features"}

    def __call__(self, x):
        x = x[:, :, :, ::8, ::8].double()
        step = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((2, 3, 4))
        return (torch.cat([x.mean((2, 3, 4)), x.std((2, 3, 4)), step], 1) * 100).float()


def write_folder(path, frames, fps=24.0):
    """A lossless frame folder (what evalkit.score decodes back to exactly these uint8 frames)."""
    path.mkdir(parents=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(path / f"{i:05d}.png")
    (path / "fps.txt").write_text(str(fps))


def videos(n_videos=3, lengths=(3, 4, 5), size=32, seed=0):
    """Pairs of seeded random videos of differing lengths (generated and noisy ground truth)."""
    return [random_pair(seed + i, n=lengths[i % len(lengths)], h=size, w=size) for i in range(n_videos)]


def scored(tmp_path, pairs, metrics, **kw):
    """evalkit.score on the pairs written as frame folders: {column: (value, ci_low, ci_high)}."""
    for i, (p, g) in enumerate(pairs):
        write_folder(tmp_path / "pred" / f"v{i}", p)
        write_folder(tmp_path / "gt" / f"v{i}", g)
    df = evalkit.score(tmp_path / "pred", tmp_path / "gt", metrics=metrics, **kw)
    return {r.column: (r.value, r.ci_low, r.ci_high) for r in df.itertuples()}


def as_float(frames):
    """uint8 (T, H, W, 3) -> float32 (T, 3, H, W) in [0, 1], as a torchmetrics user passes images."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize("preset", ["clean", "disco"])
def test_frame_adapters_equal_evalkit_score(tmp_path, preset):
    pairs = videos()
    want = scored(tmp_path, pairs, ",".join(FRAME_ADAPTERS), preset=preset)
    for name, cls in FRAME_ADAPTERS.items():
        uint8, floats = cls(preset), cls(preset)
        for p, g in pairs:
            uint8.update(p, g)  # numpy uint8, as evalkit decodes
            floats.update(as_float(p), as_float(g))  # torch float in [0, 1]
        for metric in (uint8, floats):
            got = metric.compute()[name].item()
            assert got == pytest.approx(want[name][0], rel=REL[name], abs=0), (name, preset)
        assert uint8.compute()[name].item() == floats.compute()[name].item()  # round(x·255) gives the uint8 back
        assert uint8.counts()["frames"] == sum(len(p) for p, _ in pairs)
        assert uint8.identity()["preset"] == preset


def test_a_batch_of_videos_is_several_videos():
    pairs = videos(4, lengths=(5,))
    one_by_one, batched = PSNR(), PSNR()
    for p, g in pairs:
        one_by_one.update(p, g)
    batched.update(torch.stack([as_float(p) for p, _ in pairs]), np.stack([g for _, g in pairs]))
    assert batched.compute()["psnr"].item() == pytest.approx(one_by_one.compute()["psnr"].item(), rel=1e-12)
    assert batched.counts()["frames"] == 20


def test_fvd_adapter_equals_evalkit_score(tmp_path):
    pairs = videos(6, lengths=(32, 40), seed=10)
    want = scored(tmp_path, pairs, "fvd", metric_options={"fvd": {"extractor": PooledFeatures(), "bootstrap": 50}})
    metric = FVD(extractor=PooledFeatures(), bootstrap=50)
    assert metric.preset == "tf"  # FVD has no 'clean': its own default, as evalkit.score takes
    for p, g in pairs:
        metric.update(torch.from_numpy(p), torch.from_numpy(g))
    with pytest.warns(UserWarning, match="few clips"):  # small samples are warned about, as in evalkit
        out = metric.compute()
    assert out["fvd"].item() == pytest.approx(want["fvd"][0], rel=REL["fvd"])
    # the interval: evalkit.score draws bootstrap weights from each file's hash, the adapter from the frames'
    # hash (it has no file) — another valid draw, which must contain the estimate
    assert out["fvd_ci_low"].item() <= out["fvd"].item() <= out["fvd_ci_high"].item()
    assert metric.counts()["clips_pred"] == 12 and metric.counts()["clips_gt"] == 12
    assert metric.identity()["settings"]["cache"] is False


def _dance(shared, start, frames=48):
    """A real dancer (for the pose model) and its music: frames [start, start+frames) of a wild clip."""
    from evalkit.io.audio import decode_audio
    from evalkit.io.video import decode_video

    path = shared / "data" / "wild" / "animatex_dance_1.mp4"
    video = decode_video(path)
    audio = decode_audio(path, "container")
    a = int(round(start / video.fps * audio.sample_rate))
    b = int(round((start + frames) / video.fps * audio.sample_rate))
    return video.frames[start:start + frames, ::2, ::2].copy(), audio.samples[:, a:b].copy(), audio.sample_rate, video.fps


@pytest.mark.slow
def test_beat_align_adapter_equals_evalkit_score(shared, tmp_path):
    import soundfile

    clips = [_dance(shared, start) for start in (0, 60)]
    for i, (frames, music, sr, fps) in enumerate(clips):
        write_folder(tmp_path / "pred" / f"v{i}", frames, fps)
        soundfile.write(tmp_path / "pred" / f"v{i}.wav", music.T, sr, subtype="FLOAT")  # float32: read back exact
    df = evalkit.score(tmp_path / "pred", None, metrics="beat_align")
    want = {r.column: r.value for r in df.itertuples()}
    want.update({f"{r.column}_ci_low": r.ci_low for r in df.itertuples() if not math.isnan(r.ci_low)})
    want.update({f"{r.column}_ci_high": r.ci_high for r in df.itertuples() if not math.isnan(r.ci_high)})
    metric = BeatAlign()
    assert metric.preset == "bailando"
    for frames, music, sr, fps in clips:
        metric.update(frames, torch.from_numpy(music), fps, sr)
    got = {k: v.item() for k, v in metric.compute().items()}
    assert math.isfinite(got["beat_align"]) and set(want) <= set(got)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15, nan_ok=True), key
    assert metric.counts()["videos"] == 2


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 3, 16, 16), np.uint8), "not channels-last"),
    (torch.zeros(2, 16, 16, 3), "not channels-first"),
    (torch.full((2, 3, 16, 16), 1.5), r"outside \[0, 1\]"),
    (torch.full((2, 3, 16, 16), float("nan")), r"outside \[0, 1\]"),
    (np.zeros((2, 16, 16, 3), np.int16), "dtype"),
    (np.zeros((16, 16, 3), np.uint8), "3-D input"),
    (np.zeros((0, 16, 16, 3), np.uint8), "zero frames"),
])
def test_bad_input_is_one_line(bad, match):
    with pytest.raises(EvalkitError, match=match) as err:
        PSNR().update(bad, bad)
    assert "\n" not in str(err.value)


def test_mismatch_unknown_options_and_small_frames_are_refused():
    with pytest.raises(EvalkitError, match="differ in shape"):
        L1().update(np.zeros((2, 16, 16, 3), np.uint8), np.zeros((3, 16, 16, 3), np.uint8))
    with pytest.raises(EvalkitError, match="nett"):
        LPIPS(nett="vgg")
    with pytest.raises(EvalkitError, match="no preset 'DISCO'"):
        SSIM("DISCO")
    with pytest.raises(EvalkitError, match="at least 11"):
        SSIM().update(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(EvalkitError, match="ground-truth"):
        SSIM().update(np.zeros((1, 16, 16, 3), np.uint8))
    with pytest.raises(EvalkitError, match="fps"):
        BeatAlign().update(np.zeros((4, 16, 16, 3), np.uint8), np.zeros(100, np.float32), -1, 16000)


# --- two gloo ranks ---------------------------------------------------------------------------------------------

DDP_VIDEOS = dict(n_videos=7, lengths=(32, 16, 20), seed=30)  # odd: the ranks hold uneven 'cat' states


def _adapters():
    # LPIPS is left out here: its state is a frame sum like SSIM's (same sync path), and its network would
    # load in every rank. FVD: float64 feature and outer-product sums ('sum' states); the capped stylegan-v
    # protocol keeps clip features ('cat' states, uneven across ranks, cut to max_clips on merge)
    return {"ssim": SSIM(), "psnr": PSNR(), "l1": L1(), "fvd": FVD(extractor=PooledFeatures(), bootstrap=20),
            "fvd_capped": FVD("stylegan-v", extractor=PooledFeatures(), bootstrap=20, max_clips=4)}


def _compute(metrics):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FVD on few clips: the warning is tested above
        return {name: {k: v.item() for k, v in m.compute().items()} for name, m in metrics.items()}


def _rank(rank, world, init, out):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        metrics = _adapters()
        for p, g in videos(**DDP_VIDEOS)[rank::world]:  # each rank updates its half of the videos
            for m in metrics.values():
                m.update(p, g)
        values = _compute(metrics)  # torchmetrics syncs the states over the process group here
        if rank == 0:
            torch.save(values, out)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_merge_exactly(tmp_path):
    import torch.multiprocessing as mp

    out = tmp_path / "ranks.pt"
    mp.spawn(_rank, args=(2, f"file://{tmp_path / 'rendezvous'}", str(out)), nprocs=2, join=True)
    merged = torch.load(out)
    single = _adapters()
    for p, g in videos(**DDP_VIDEOS):
        for m in single.values():
            m.update(p, g)
    want = _compute(single)
    for name, values in want.items():
        assert merged[name].keys() == values.keys()
        for key, value in values.items():  # the same float64 sums, added in another order
            assert merged[name][key] == pytest.approx(value, rel=REL[name], abs=0), (name, key)
