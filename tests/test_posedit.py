"""posedit: pose codec, VAE/DiT shapes, a training step, stitched long generation, pose-level metrics.

Everything runs on CPU with the ``micro`` config (toy widths); the synthetic split's annotated poses are the data.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.models.posedit.codec import Canvas, decode, decode_pixels, encode, encode_pixels, flip_unit
from evalkit.models.posedit.config import get_config
from evalkit.models.posedit.sample import StitchSettings, sample_long, window_starts


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Toy-sized tensors: on a shared CPU, torch's thread pool costs ~100× the compute itself."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def micro():
    return get_config("micro")


@pytest.fixture(scope="module")
def synth_train():
    from evalkit.data.registry import get_split

    return sorted(get_split("synth", "train"), key=lambda s: s.id)


# --- codec ------------------------------------------------------------------------------------------------
def test_codec_round_trip_within_1px_at_256():
    rng = np.random.default_rng(0)
    canvas = Canvas(0.0, 0.0, 256.0)  # the keypoint image is the 256² frame itself
    joints = rng.uniform(8, 248, (64, 17, 2))
    maps, clipped = encode_pixels(joints, canvas, 256, sigma=2.0)
    got = decode_pixels(maps, canvas, sigma=2.0)
    err = np.linalg.norm(got[..., :2] - joints, axis=-1)
    assert clipped == 0
    assert err.max() < 1.0  # the bound; measured ~0.01 px
    assert got[..., 2].min() > 0.9  # a clean splat decodes with confidence ~1


def test_codec_invalid_joints_and_flip():
    unit = torch.rand(3, 17, 2) * 0.8 + 0.1
    valid = torch.ones(3, 17, dtype=torch.bool)
    valid[1, 4] = False
    maps = encode(unit, valid, 64, 1.5)
    assert maps[1, 4].abs().max() == 0  # a missing joint is an empty channel …
    u, conf = decode(maps, 1.5)
    assert conf[1, 4] == 0 and conf[valid].min() > 0.9  # … and decodes with zero confidence
    assert (u - unit)[valid].abs().max() < 0.25 / 64  # quarter of an image pixel at 64²
    twice = flip_unit(flip_unit(unit))
    assert torch.allclose(twice, unit)
    flipped = flip_unit(unit)
    assert torch.allclose(flipped[:, 5, 0], 1 - unit[:, 6, 0])  # left shoulder ← mirrored right shoulder


def test_canvas_from_reference():
    kp = np.zeros((17, 2))
    kp[[5, 6], 1], kp[[11, 12], 1] = 100.0, 150.0  # torso 50 px
    kp[[5, 11], 0], kp[[6, 12], 0] = 140.0, 110.0
    c = Canvas.from_reference(kp, torsos=5.0)
    assert (c.side, c.x0 + c.side / 2, c.y0 + c.side / 2) == pytest.approx((250.0, 125.0, 150.0))
    assert np.allclose(c.to_pixels(c.to_unit(kp)), kp)
    kp[11] = np.nan
    with pytest.raises(EvalkitError, match="shoulders and hips"):
        Canvas.from_reference(kp, torsos=5.0)


# --- model shapes -----------------------------------------------------------------------------------------
def test_vae_and_dit_shapes(micro):
    from evalkit.models.posedit.model import PoseDiTModel

    torch.manual_seed(0)
    model = PoseDiTModel(micro).eval()
    s, c, w = micro.latent_size, micro.latent_channels, micro.window
    maps = encode(torch.rand(5, 17, 2), torch.ones(5, 17, dtype=torch.bool), micro.image_size, micro.sigma)
    z = model.vae.encode(maps)
    assert z.shape == (5, c, s, s) and model.vae.decode(z).shape == (5, 17, micro.image_size, micro.image_size)
    torch.nn.init.normal_(model.dit.proj_out.weight, std=0.02)  # zero-initialised: give it an output to compare
    x, t = torch.randn(2, w, c, s, s), torch.rand(2)
    music_a, music_b, ref = torch.randn(2, w, 35), torch.randn(2, w, 35), torch.randn(2, c, s, s)
    with torch.no_grad():
        v = model.dit(x, t, music_a, ref)
        drop = torch.zeros(2, dtype=torch.bool)
        null_a = model.dit(x, t, music_a, ref, music_keep=drop)
        null_b = model.dit(x, t, music_b, ref, music_keep=drop)
        other = model.dit(x, t, music_b, ref)
    assert v.shape == x.shape and torch.isfinite(v).all()
    assert torch.equal(null_a, null_b)  # the null token hides the music entirely (CFG's unconditional branch)
    assert (other - v).abs().max() > 1e-4  # with music kept, the music reaches the output
    assert model.dit.patchify(x).shape == (2, w, micro.tokens_per_frame, c * micro.patch ** 2)
    assert torch.equal(model.dit.unpatchify(model.dit.patchify(x)), x)


# --- training ---------------------------------------------------------------------------------------------
def _bank(samples, cfg):
    """Two annotated synth clips as a ClipBank; random music features stand in for librosa's (speed)."""
    from evalkit.models.posedit.data import ClipBank, PoseClip, reference_pose, resample_joints

    clips, rng = [], np.random.default_rng(0)
    for s in samples[:2]:
        joints = resample_joints(s.joints2d, s.fps, cfg.fps)
        ref, _, _ = reference_pose(s)
        canvas = Canvas.from_reference(ref, cfg.canvas_torsos)
        clips.append(PoseClip(s.id, canvas.to_unit(joints[..., :2]).astype(np.float32), joints[..., 2] > 0,
                              rng.normal(size=(len(joints), 35)).astype(np.float32),
                              canvas.to_unit(ref).astype(np.float32), np.ones(17, bool), canvas))
    return ClipBank(clips, cfg)


def test_one_training_step_each_stage_finite_and_resumable(micro, synth_train, tmp_path):
    from evalkit.models.posedit.model import load_checkpoint
    from evalkit.models.posedit.train import TrainOptions, train_stage

    bank = _bank(synth_train, micro)
    opts = TrainOptions(out=tmp_path, steps=1, progress=False)
    vae = train_stage(micro, bank, "vae", opts)
    dit = train_stage(micro, bank, "dit", opts)
    assert math.isfinite(vae["last"]["loss"]) and math.isfinite(dit["last"]["loss"])
    assert vae["latent_scale"] > 0 and math.isfinite(vae["round_trip"]["mean_torso"])
    model, meta = load_checkpoint(tmp_path / "latest.safetensors")
    assert meta["stages"] == ["dit", "vae"] and meta["music_stats"]
    assert (tmp_path / "dit" / "loss.png").is_file() and (tmp_path / "dit" / "log.csv").is_file()
    again = train_stage(micro, bank, "dit", TrainOptions(out=tmp_path, steps=2, resume=True, progress=False))
    assert again["steps"] == 2  # resumed at step 1, one more step
    with pytest.raises(EvalkitError, match="already has a training state"):
        train_stage(micro, bank, "dit", opts)


# --- long generation: stitching ---------------------------------------------------------------------------
FPS, SECONDS = 15.0, 30.0


def _smooth_model(music, window_offsets: bool = True):
    """Analytic stand-in for a trained DiT on 34-d "latents" = the pose itself: every window flows to a
    smooth trajectory (music columns 0..33) plus a per-window offset (music column 34 at the window's first
    frame) — smooth inside a window, inconsistent between windows: the failure stitching must hide."""

    def velocity(x, t, mus, ref, ctx, mask, keep):
        target = mus[..., :34] + (mus[:, :1, 34:35] if window_offsets else 0)
        return (target - x) / (1 - t.view(-1, 1, 1)).clamp_min(1e-6)

    def decode(latents):
        return latents.reshape(-1, 17, 2), torch.ones(len(latents), 17)

    return velocity, decode


def _speed(poses: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(poses, axis=0), axis=-1).mean(axis=1)  # (T-1,) mean joint step per frame


def test_30s_stitched_generation_has_no_jump_at_segment_boundaries():
    cfg = get_config("tiny")  # the real window/overlap
    n = int(SECONDS * FPS)
    rng = np.random.default_rng(1)
    time_s = np.arange(n)[:, None] / FPS
    music = np.zeros((n, 35), np.float32)
    music[:, :34] = np.sin(2 * np.pi * time_s / 2.0 + rng.uniform(0, 2 * np.pi, 34))  # 0.5 Hz, amplitude 1
    music[:, 34] = np.repeat(rng.uniform(-1, 1, n // 15 + 1), 15)[:n]  # a new offset every second
    music = torch.from_numpy(music)
    velocity, decode = _smooth_model(music)
    wins = window_starts(n, cfg.window, cfg.overlap)
    shared = np.zeros(n - 1, bool)  # steps that touch a window's shared (cross-faded) frames
    for (a, _), (_, e_prev) in zip(wins[1:], wins[:-1]):
        shared[max(a - 1, 0):e_prev] = True
    out = {}
    for name, continuation in (("stitched", True), ("naive", False)):
        res = sample_long(velocity, decode, music, torch.zeros(1), (34,),
                          StitchSettings(cfg.window, cfg.overlap, steps=8, continuation=continuation), seed=0)
        assert res["unit"].shape == (n, 17, 2) and len(res["windows"]) == len(wins)
        out[name] = _speed(res["unit"].numpy())
    inside = out["stitched"][~shared].max()  # the smooth motion itself: ≤ 2π/2 s / 15 fps ≈ 0.21
    offsets = music[:, 34].numpy()
    max_delta = max(abs(offsets[a] - offsets[b]) for (a, _), (b, _) in zip(wins[1:], wins[:-1]))
    # the naive cut (independent windows, hard switch mid-overlap) jumps: the test can see a seam
    assert out["naive"][shared].max() > 3 * inside
    # stitched: the disagreement is spread over the shared frames — at most |Δ|/overlap more than the motion
    assert out["stitched"][shared].max() <= inside + max_delta / cfg.overlap + 1e-5
    assert out["stitched"][shared].max() < 1.5 * inside


def test_30s_generation_with_the_real_model_is_continuous_by_construction(micro):
    from evalkit.models.posedit.model import PoseDiTModel
    from evalkit.models.posedit.sample import PosePipeline

    torch.manual_seed(0)
    pipe = PosePipeline(PoseDiTModel(micro))
    n = int(SECONDS * micro.fps)
    music = np.random.default_rng(0).normal(size=(n, 35)).astype(np.float32)
    decoded = []
    real_decode = pipe.decode
    pipe.decode = lambda lat: decoded.append(real_decode(lat)) or decoded[-1]
    ref = np.array([[128 + 20 * np.sin(j), 60 + 10 * j] for j in range(17)], float)  # a tall figure
    poses, counts = pipe.poses(music, ref, seed=3)
    wins = window_starts(n, micro.window, micro.overlap)
    assert poses.shape == (n, 17, 3) and np.isfinite(poses).all() and counts["windows"] == len(wins)
    canvas = Canvas.from_reference(ref, micro.canvas_torsos)
    for i in range(1, len(wins)):  # each window's first shared frame is exactly the previous window's pose
        a, prev_a = wins[i][0], wins[i - 1][0]
        prev = canvas.to_pixels(decoded[i - 1][0][a - prev_a].double().numpy())
        assert np.allclose(poses[a, :, :2], prev, atol=1e-4)
    again, _ = pipe.poses(music, ref, seed=3)
    assert np.array_equal(again, poses)  # a seed gives the same poses


# --- pose-level metrics -----------------------------------------------------------------------------------
def test_pose_beat_align_and_motion_distribution(synth_train):
    from evalkit.metrics.beat_align import bailando_beat_align
    from evalkit.models.posedit.eval import pose_beat_align, summarize

    poses = [np.asarray(s.joints2d)[..., :2] for s in synth_train[:4]]
    beats = [np.asarray(s.beats) for s in synth_train[:4]]
    own = np.mean([pose_beat_align(p, 30.0, b) for p, b in zip(poses, beats)])
    other = np.mean([pose_beat_align(p, 30.0, b) for p, b in zip(poses, beats[1:] + beats[:1])])
    assert own > other + 0.1  # the synthetic dancers move on their own music's beats
    # at 60 fps the frame constants are Bailando's own (σ 3, smoothing 5): same number as the 3D reference
    p60 = np.repeat(poses[0], 2, axis=0) + 0.01 * np.arange(2 * len(poses[0]))[:, None, None]
    b60 = np.round(beats[0] * 60).astype(int)
    from evalkit.models.posedit.eval import torso_length

    assert pose_beat_align(p60, 60.0, beats[0]) == pytest.approx(bailando_beat_align(p60 / torso_length(p60), b60))
    # the ground truth against itself is at distance 0; the same dancers held still are far from it, with no
    # kinetic diversity (diversity is read beside the distance, so noise cannot pass for variety)
    held = [np.repeat(p[:1], len(p), axis=0) for p in poses]
    res = summarize({"ground truth": poses, "held": held}, beats, 30.0)
    assert abs(res["ground truth"]["fid_k2d"]) < 1e-9 and abs(res["ground truth"]["fid_g2d"]) < 1e-9
    assert res["held"]["fid_k2d"] > 10 and res["held"]["div_k2d"] == 0.0 < res["ground truth"]["div_k2d"]
    assert res["held"]["div_k2d_gt"] == res["ground truth"]["div_k2d"]
    with pytest.raises(EvalkitError):
        summarize({"ground truth": poses[:1]}, beats[:1], 30.0)


# --- the generator behind `evalkit run-model posedit` -----------------------------------------------------
def test_generator_renders_the_sample_frame_size(micro, tmp_path):
    from evalkit.data.registry import get_split
    from evalkit.generators import GeneratorContext, check_frames, make_generator
    from evalkit.models.posedit.model import PoseDiTModel, save_checkpoint

    ckpt = save_checkpoint(PoseDiTModel(micro), tmp_path / "micro.safetensors", {"stages": ["vae", "dit"]})
    sample = sorted(get_split("synth", "test"), key=lambda s: s.id)[0]
    sample = replace(sample, num_frames=12)  # a short clip keeps the CPU test fast
    for renderer in ("puppet", "skeleton"):
        gen = make_generator("posedit", GeneratorContext(options={"checkpoint": str(ckpt), "renderer": renderer}))
        frames = check_frames(gen.generate(sample, seed=0), sample, "posedit")
        assert gen.poses_of[sample.id].shape == (12, 17, 3)
        assert gen.info()["renderer"] == renderer
    assert frames.max() == 0 or gen.counts["joints_low_confidence"] < 12 * 17  # joints drawn only when confident
    assert gen.version.startswith("sha256:")
    with pytest.raises(EvalkitError, match="checkpoint not found"):
        make_generator("posedit", GeneratorContext(options={"checkpoint": str(tmp_path / "none.safetensors")}))


def test_cli_dispatches_train_posedit_and_reports_bad_input(capsys):
    from evalkit.cli import main

    assert main(["train", "posedit", "--stage", "pose"]) == 2
    assert "posedit stages are vae, dit" in capsys.readouterr().err
    assert main(["train", "posedit", "--config", "huge"]) == 2
    assert "unknown posedit config" in capsys.readouterr().err
    assert main(["train", "m2p"]) == 2  # m2p still needs its --stage
    assert "m2p needs --stage" in capsys.readouterr().err
