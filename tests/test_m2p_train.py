"""m2p training: one step of every stage, exact resume, checkpoints, and loading split Samples."""
import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.models.m2p.config import get_config
from evalkit.models.m2p.data import Clip, ClipSet
from evalkit.models.m2p.model import load_checkpoint, read_checkpoint, save_checkpoint
from evalkit.models.m2p.train import TrainOptions, train_stage


pytestmark = pytest.mark.usefixtures("one_torch_thread")


CFG = get_config("micro")


def fake_clips(n=2, frames=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    s, k = CFG.size, CFG.latent_size
    u8 = lambda *shape: torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)  # noqa: E731
    return [Clip(f"c{i}", u8(frames, 3, s, s), u8(3, s, s), torch.randn(frames, 35, generator=g),
                 torch.rand(frames, 17, k, k, generator=g).half(),
                 {t: u8(frames, 3, s, s) for t in CFG.guidance_types},
                 torch.cat([torch.rand(17, 2, generator=g) * k, torch.ones(17, 1)], -1)) for i in range(n)]


def opts(tmp_path, stage, **kw):
    return TrainOptions(stage=stage, out=tmp_path, progress=False, **kw)


def _weights(path):
    return read_checkpoint(path)[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Stages 0 and 2 done (one step each); tests copy this run folder and continue from it."""
    out = tmp_path_factory.mktemp("base")
    data = ClipSet(fake_clips())
    summaries = {s: train_stage(CFG, data, opts(out, s, steps=1)) for s in (0, 2)}
    return out, data, summaries


def _copy(base, dest):
    import shutil

    shutil.copytree(base[0], dest)
    return dest


def _moved(before, after):
    return [k for k in after if not torch.equal(after[k], before[k])]


def test_one_step_per_stage_in_order(base, tmp_path):
    out, data, summaries = base
    for stage in (0, 2):
        assert summaries[stage]["steps"] == 1 and np.isfinite(summaries[stage]["last"]["loss"])
    run = _copy(base, tmp_path / "run")
    after2 = _weights(run / "latest.safetensors")
    s1 = train_stage(CFG, data, opts(run, 1, steps=1))
    after1 = _weights(run / "latest.safetensors")
    s3 = train_stage(CFG, data, opts(run, 3, steps=1))
    after3 = _weights(run / "latest.safetensors")
    assert np.isfinite(s1["last"]["loss"]) and np.isfinite(s3["last"]["loss"])
    for stage in (0, 1, 2, 3):
        d = run / f"stage{stage}"
        assert (d / "loss.png").stat().st_size > 0 and len((d / "log.csv").read_text().splitlines()) == 2
    # each stage moves only what it trains: stage 1 M2PEnc; stage 3 motion modules + M2PEnc, never the
    # denoiser's spatial layers, the VAE or the reference path
    assert {k.split(".")[0] for k in _moved(after2, after1)} == {"m2penc"}
    moved3 = _moved(after1, after3)
    assert any("motion_modules" in k for k in moved3) and any(k.startswith("m2penc.") for k in moved3)
    assert all(k.startswith("m2penc.") or "motion_modules" in k for k in moved3)
    _, meta, tensors = read_checkpoint(run / "latest.safetensors")
    assert meta["stages"] == ["0", "1", "2", "3"] and meta["music_stats"]
    # the body M2PEnc reads for a reference without keypoints: the training clips' mean reference
    torch.testing.assert_close(tensors["m2penc.reference_mean"].float(),
                               torch.stack([c.reference_kp for c in data.clips]).mean(0))


def test_motion_term_is_added_to_the_m2penc_loss(base):
    """Stage 1 with motion_weight μ: loss = the paper's loss + μ·MSE of the kinetic profiles, on the same batch."""
    from evalkit.models.m2p.m2penc import kinetic_profile
    from evalkit.models.m2p.train import StageLoss, draw_batch

    model, _ = load_checkpoint(base[0] / "latest.safetensors")
    model.eval()
    batch = draw_batch(base[1], CFG, 1, 2, 4, torch.Generator().manual_seed(0), "cpu")
    seen = []  # the heatmaps the stage loss itself computed
    model.m2penc.register_forward_hook(lambda _m, _i, out: seen.append(out[1]))
    with torch.no_grad():
        model.cfg = CFG.with_overrides(motion_weight=0.0)  # micro inherits tiny's μ = 2
        plain = StageLoss(model, 1)(batch)[0]
        model.cfg = CFG.with_overrides(motion_weight=5.0)
        with_motion = StageLoss(model, 1)(batch)[0]
    assert torch.equal(seen[0], seen[1])
    motion = torch.nn.functional.mse_loss(kinetic_profile(seen[1]), kinetic_profile(batch["heat"]))
    assert float(motion) > 0
    assert torch.allclose(with_motion - plain, 5.0 * motion, rtol=1e-5, atol=1e-7)


def test_prerequisites_are_enforced(tmp_path):
    with pytest.raises(EvalkitError, match="needs stage"):
        train_stage(CFG, ClipSet(fake_clips()), opts(tmp_path, 1, steps=1))


def test_resume_reproduces_an_uninterrupted_run(base, tmp_path):
    data = base[1]
    straight, split = _copy(base, tmp_path / "straight"), _copy(base, tmp_path / "split")
    train_stage(CFG, data, opts(straight, 1, steps=3))
    first = train_stage(CFG, data, opts(split, 1, steps=3, stop_after=1))  # interrupted after one step
    assert first == {"steps": 1, "planned_steps": 3, "interrupted": True}
    with pytest.raises(EvalkitError, match="--resume"):
        train_stage(CFG, data, opts(split, 1, steps=3))
    summary = train_stage(CFG, data, opts(split, 1, steps=3, resume=True))
    assert summary["steps"] == 3
    a, b = _weights(straight / "latest.safetensors"), _weights(split / "latest.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_time_budget_stops_and_anneals(base, tmp_path):
    from evalkit.models.m2p.train import lr_factor

    run = _copy(base, tmp_path / "run")
    summary = train_stage(CFG, base[1], opts(run, 1, steps=50, max_minutes=1e-9))
    assert summary["stopped_by_time"] and summary["steps"] == 1
    assert lr_factor(0, 1000) == pytest.approx(0.01) and lr_factor(99, 1000) == pytest.approx(1.0)
    assert lr_factor(1000, 1000) == pytest.approx(0.1)
    # half the time budget spent at 20 % of the steps: the schedule follows the time
    assert lr_factor(200, 1000, elapsed=50, budget_s=100) == pytest.approx(0.55)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    from evalkit.models.m2p.model import M2PModel

    torch.manual_seed(0)
    model = M2PModel(CFG)
    save_checkpoint(model, tmp_path / "m.safetensors", {"stages": ["0"]})
    loaded, meta = load_checkpoint(tmp_path / "m.safetensors")
    assert meta == {"stages": ["0"]} and loaded.cfg.to_json() == CFG.to_json()
    mine, theirs = model.state_dict(), loaded.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    half = save_checkpoint(model, tmp_path / "h.safetensors", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * (tmp_path / "m.safetensors").stat().st_size
    from safetensors.torch import load_file, save_file

    tensors = load_file(tmp_path / "m.safetensors")
    tensors.pop(next(iter(tensors)))
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m.safetensors"), "pt") as f:
        metadata = f.metadata()
    save_file(tensors, tmp_path / "bad.safetensors", metadata=metadata)
    with pytest.raises(EvalkitError, match="1 missing"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_tiny_checkpoint_fits_30mb():
    from evalkit.models.m2p.model import M2PModel

    model = M2PModel(get_config("tiny"))
    n = sum(v.numel() for k, v in model.state_dict().items() if not k.endswith("pos_embed.pe"))
    assert n * 2 < 30e6, f"{n} parameters = {n * 2 / 1e6:.1f} MB in fp16"


# loading split Samples ---------------------------------------------------------------------------------------
def test_load_clip_from_sample_files(tmp_path):
    import cv2
    import soundfile as sf

    from evalkit.data.sample import Sample
    from evalkit.io.video import write_video
    from evalkit.models.m2p.data import load_clip

    fps, n, size = 20.0, 40, 48  # 2 s at 20 fps, 48² frames → model 10 fps, 32²
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    write_video(tmp_path / "v.mp4", frames, fps)
    sr = 22050
    sf.write(tmp_path / "m.wav", (0.1 * rng.normal(size=int(2.2 * sr))).astype(np.float32), sr)
    cv2.imwrite(str(tmp_path / "r.png"), frames[0])
    write_video(tmp_path / "skeleton.mp4", frames, fps)
    write_video(tmp_path / "semantic.mp4", frames, fps)
    depth = np.zeros((n, size, size), np.float16)
    depth[:, 10:30, 20:28] = 3.0
    np.savez(tmp_path / "depth.npz", depth=depth)
    joints = np.zeros((n, 17, 3), np.float32)
    # every joint at pixel (20.5, 14.5): the centre of latent pixel (row 2, col 3) when 48 px → 8 latents
    joints[..., 0], joints[..., 1], joints[..., 2] = 20.5, 14.5, 1.0
    joints[:, 5, 2] = 0.0  # an invisible joint gives an empty map
    ref_joints = joints[0].copy()
    ref_joints[3] = [np.nan, np.nan, 1.0]  # lost: not visible
    sample = Sample("s", tmp_path / "v.mp4", tmp_path / "m.wav", tmp_path / "r.png", fps, n, joints2d=joints,
                    guidance={"skeleton": tmp_path / "skeleton.mp4", "semantic": tmp_path / "semantic.mp4",
                              "depth": tmp_path / "depth.npz"}, reference_joints2d=ref_joints)
    clip = load_clip(sample, CFG)
    # the reference's keypoints in latent pixels (6 image px per latent px): (20.5, 14.5) → (3, 2)
    expected = np.tile([3.0, 2.0, 1.0], (17, 1))
    expected[5] = [0, 0, 0]
    expected[3] = [0, 0, 0]
    np.testing.assert_allclose(clip.reference_kp.numpy(), expected, atol=1e-6)
    batch = ClipSet([clip]).batch(2, 4, torch.Generator().manual_seed(0), guidance=False, motion=True)
    assert batch["reference_kp"].shape == (2, 17, 3)
    assert clip.frames.shape == (20, 3, 32, 32) and clip.music.shape == (20, 35)
    assert clip.heat.shape == (20, 17, 8, 8) and clip.reference.shape == (3, 32, 32)
    assert {k: v.shape for k, v in clip.guidance.items()} == {k: (20, 3, 32, 32) for k in CFG.guidance_types}
    peak = np.unravel_index(int(clip.heat[0, 0].float().argmax()), (8, 8))
    assert peak == (2, 3) and float(clip.heat[0, 0, 2, 3]) == pytest.approx(1.0, abs=1e-3)
    assert float(clip.heat[:, 5].float().max()) == 0.0
    depth_img = clip.guidance["depth"][0, 0].numpy()
    assert depth_img.max() > 0 and depth_img[0, 0] == 0  # foreground bright, background black
    sample.guidance.pop("depth")
    with pytest.raises(EvalkitError, match="'depth' guidance"):
        load_clip(sample, CFG)


# warm start at another frame size, the SD-style VAE loss ---------------------------------------------------------
def test_warm_start_at_another_size_resamples_the_music_grid(tmp_path):
    """A micro checkpoint at 32² (8² latents) starts a 64² run: every weight is kept except M2PEnc's
    music → S² projection, whose grid rows are resampled bilinearly (a constant grid stays constant)."""
    from evalkit.models.m2p.model import M2PModel
    from evalkit.models.m2p.train import start_model

    cfg = CFG.with_overrides(m2penc=dict(seq_layers=0))  # the projection reads the music itself
    torch.manual_seed(0)
    small = M2PModel(cfg)
    with torch.no_grad():
        small.m2penc.proj.weight.copy_(torch.linspace(-1, 1, 35).repeat(CFG.latent_size ** 2, 1))
        small.m2penc.proj.bias.fill_(0.25)
    save_checkpoint(small, tmp_path / "small.safetensors", {"stages": ["0", "1", "2", "3"]})
    big_cfg = cfg.with_overrides(size=64, vae=dict(sample_size=64), unet=dict(sample_size=16))
    model, meta = start_model(big_cfg, opts(tmp_path, 0, init=tmp_path / "small.safetensors"), "cpu")
    w = model.m2penc.proj.weight
    assert w.shape == (16 * 16, 35) and meta["stages"] == ["0", "1", "2", "3"]
    torch.testing.assert_close(w, torch.linspace(-1, 1, 35).repeat(256, 1))
    assert torch.allclose(model.m2penc.proj.bias, torch.tensor(0.25))
    mine, theirs = small.state_dict(), model.state_dict()
    same = [k for k in mine if not k.startswith("m2penc.proj") and not k.endswith("pos_embed.pe")]
    assert all(torch.equal(mine[k], theirs[k]) for k in same)


def test_init_with_another_m2penc_keeps_what_matches(tmp_path, capsys):
    """A checkpoint whose M2PEnc differs starts a run: every other weight is kept; of M2PEnc, the tensors whose
    name and shape match are kept and the rest are the fresh model's; the keypoint head starts fresh when it turns
    from absolute positions into displacements from the reference pose; the music statistics are fitted again."""
    from evalkit.models.m2p.model import M2PModel
    from evalkit.models.m2p.train import start_model

    for old_m2penc in (dict(seq_layers=0), dict(reference_pose=False)):
        old_cfg = CFG.with_overrides(m2penc=old_m2penc)
        torch.manual_seed(1)
        old = M2PModel(old_cfg)
        save_checkpoint(old, tmp_path / "old.safetensors", {"stages": ["0", "2", "1"], "music_stats": True})
        torch.manual_seed(2)
        fresh = M2PModel(CFG).m2penc.state_dict()
        torch.manual_seed(2)
        model, meta = start_model(CFG, opts(tmp_path, 1, init=tmp_path / "old.safetensors"), "cpu")
        assert "start fresh" in capsys.readouterr().out
        assert model.m2penc.reads_reference_pose and "music_stats" not in meta and meta["stages"] == ["0", "2", "1"]
        mine, theirs = model.state_dict(), old.state_dict()
        for k, v in fresh.items():
            t = theirs.get(f"m2penc.{k}")
            matches = t is not None and t.shape == v.shape and not k.startswith("kp_head.") and "music_" not in k
            assert torch.equal(mine[f"m2penc.{k}"], t if matches else v), k
        if "seq_layers" not in old_m2penc:  # the sequence encoder came along
            assert torch.equal(mine["m2penc.seq.inp.weight"], theirs["m2penc.seq.inp.weight"])
        assert torch.count_nonzero(mine["m2penc.kp_head.weight"]) == 0
        kept = [k for k in theirs if not k.startswith("m2penc.") and not k.endswith("pos_embed.pe")]
        assert kept and all(torch.equal(mine[k], theirs[k]) for k in kept)


def test_sd_vae_loss_is_l1_plus_perceptual_plus_kl(monkeypatch):
    """vae_loss="sd": loss = L1 + LPIPS(VGG) + 1e-6·KL, logged as (reconstruction MSE, LPIPS); the LPIPS net
    is replaced here by a stand-in with a known value (its real weights are tested in test_lpips.py)."""
    import evalkit.features.lpips_net as lpips_net
    from evalkit.models.m2p.model import M2PModel
    from evalkit.models.m2p.train import StageLoss

    class Stand(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            assert net == "vgg"

        def distance(self, a, b):
            return ((a - b) ** 2).mean(dim=(1, 2, 3)) * 3.0

    monkeypatch.setattr(lpips_net, "LPIPSNet", Stand)
    torch.manual_seed(0)
    model = M2PModel(CFG.with_overrides(vae_loss="sd"))
    g = torch.Generator().manual_seed(0)
    b = {"frames": torch.rand(2, 3, 1, CFG.size, CFG.size, generator=g) * 2 - 1,
         "eps": torch.randn(2, 4, CFG.latent_size, CFG.latent_size, generator=g)}
    loss, mse, lp = StageLoss(model, 0)(b)
    x = b["frames"][:, :, 0]
    dist = model.vae.encode(x).latent_dist
    rec = model.vae.decode(dist.mean + dist.std * b["eps"]).sample
    expect = (rec - x).abs().mean() + 3.0 * ((rec - x) ** 2).mean() + 1e-6 * dist.kl().mean() / b["eps"][0].numel()
    torch.testing.assert_close(loss, expect, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mse, ((rec - x) ** 2).mean(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(lp, 3.0 * ((rec - x) ** 2).mean(), rtol=1e-5, atol=1e-7)
