"""m2p modules on the toy ("micro") configuration of the tiny classes: shapes, wiring, music features."""
import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.models.m2p.config import get_config
from evalkit.models.m2p.model import M2PModel
from evalkit.models.m2p.reference import RefSelfAttnProcessor


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return M2PModel(get_config("micro")).eval()


def test_shapes_of_every_module(model):
    cfg, b, f, s = model.cfg, 2, 3, model.cfg.latent_size
    ref = torch.rand(b, 3, cfg.size, cfg.size) * 2 - 1
    with torch.no_grad():
        assert model.image_encoder(ref).shape == (b, cfg.context_dim)
        z = model.encode(ref)
        assert z.shape == (b, 4, s, s)
        assert model.decode(z).shape == (b, 3, cfg.size, cfg.size)
        guid, heat = model.m2penc(torch.randn(b, f, cfg.music_dim))
        assert guid.shape == (b, cfg.guid_channels, f, s, s) and heat.shape == (b, 17, f, s, s)
        maps = {k: torch.rand(b, 3, f, cfg.size, cfg.size) for k in cfg.guidance_types}
        assert model.guidance(maps).shape == (b, cfg.guid_channels, f, s, s)
        ctx = model.reference(ref)
        assert ctx.shape == (b, 1, cfg.context_dim)
        v = model.denoise(torch.randn(b, 4, f, s, s), torch.tensor([500]), ctx, guid)
        assert v.shape == (b, 4, f, s, s)
    # one writer/reader pair per spatial self-attention: 2 down + 1 mid + 2×2 up transformer blocks here
    assert model.pairs == 7


def test_motion_modules_excluded_from_reference_attention(model):
    procs = model.denoiser.unet.attn_processors
    readers = [k for k, p in procs.items() if isinstance(p, RefSelfAttnProcessor)]
    assert readers and not any("motion_modules" in k for k in readers)
    assert all(k.endswith("attn1.processor") and ".attentions." in k for k in readers)


def _denoise(model, z, ctx, guid, keep=None):
    model.bank.keep = keep
    return model.denoise(z, torch.tensor([300]), ctx, guid)


def test_reference_bank_is_read_and_masked(model):
    cfg, s = model.cfg, model.cfg.latent_size
    torch.manual_seed(1)
    ref = torch.rand(2, 3, cfg.size, cfg.size) * 2 - 1
    z, guid = torch.randn(2, 4, 2, s, s), torch.randn(2, cfg.guid_channels, 2, s, s) * 0.1
    with torch.no_grad():
        ctx = model.reference(ref)
        with_bank = _denoise(model, z, ctx, guid)
        masked = _denoise(model, z, ctx, guid, keep=torch.tensor([False, True]))
        model.bank.clear()
        without = _denoise(model, z, ctx, guid)
    # the bank changes the output; a masked sample is exactly the no-bank output, the other is untouched
    assert (with_bank - without).abs().max() > 1e-3
    torch.testing.assert_close(masked[0], without[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(masked[1], with_bank[1], atol=1e-5, rtol=0)


def test_guidance_is_added_after_conv_in(model):
    s = model.cfg.latent_size
    z = torch.randn(1, 4, 2, s, s)
    captured = []
    hook = model.denoiser.unet.down_blocks[0].register_forward_pre_hook(
        lambda mod, args, kw: captured.append(kw.get("hidden_states", args[0] if args else None)), with_kwargs=True)
    try:
        with torch.no_grad():
            ctx = torch.zeros(1, 1, model.cfg.context_dim)
            model.bank.clear()
            _denoise(model, z, ctx, None)
            guid = torch.randn(1, model.cfg.guid_channels, 2, s, s)
            _denoise(model, z, ctx, guid)
    finally:
        hook.remove()
    # what the first down block sees = conv_in(z) + guidance, frames folded as (b f)
    folded = guid.permute(0, 2, 1, 3, 4).reshape(2, -1, s, s)
    torch.testing.assert_close(captured[1] - captured[0], folded, atol=1e-5, rtol=0)
    with pytest.raises(RuntimeError, match="guidance"):
        _denoise(model, z, ctx, torch.zeros(1, model.cfg.guid_channels, 3, s, s))


def test_fresh_motion_modules_are_identity(model):
    """Zero-initialised motion modules: each frame is denoised as if alone (frames are folded, not mixed)."""
    s = model.cfg.latent_size
    z = torch.randn(1, 4, 3, s, s)
    ctx = torch.randn(1, 1, model.cfg.context_dim)
    guid = torch.randn(1, model.cfg.guid_channels, 3, s, s) * 0.1
    with torch.no_grad():
        model.bank.clear()
        whole = _denoise(model, z, ctx, guid)
        single = torch.cat([_denoise(model, z[:, :, i:i + 1], ctx, guid[:, :, i:i + 1]) for i in range(3)], dim=2)
    torch.testing.assert_close(whole, single, atol=1e-5, rtol=1e-5)


def test_m2penc_temporal_attention_mixes_frames():
    torch.manual_seed(0)
    enc = M2PModel(get_config("micro", m2penc=dict(seq_layers=0))).m2penc.eval()  # the paper's M2PEnc
    music = torch.randn(1, 4, 35)
    changed = music.clone()
    changed[:, 3] += 5.0
    with torch.no_grad():
        for p in enc.guid_head.parameters():  # the zero-initialised head would hide everything
            p.normal_(0, 0.1)
        a = enc(music)[0][:, :, 0]
        b = enc(changed)[0][:, :, 0]
        assert torch.allclose(a, b, atol=1e-6)  # temporal attention starts as identity: frame 0 is unaffected
        for blk in enc.blocks:
            blk.temporal.proj_out.weight.normal_(0, 0.1)
        a = enc(music)[0][:, :, 0]
        b = enc(changed)[0][:, :, 0]
        assert (a - b).abs().max() > 1e-4  # once trained, frame 0 sees frame 3's music
    with pytest.raises(ValueError, match="at most"):
        enc(torch.randn(1, enc.max_frames + 1, 35))


def test_scheduler_settings_and_targets():
    from evalkit.models.m2p.scheduler import add_noise, make_scheduler, velocity

    sch = make_scheduler()
    assert sch.config.prediction_type == "v_prediction" and sch.config.timestep_spacing == "trailing"
    assert float(sch.alphas_cumprod[-1]) < 1e-6  # zero terminal SNR: the last step is pure noise
    sch.set_timesteps(25)
    assert int(sch.timesteps[0]) == 999
    x0, eps = torch.randn(3, 4, 2, 4, 4), torch.randn(3, 4, 2, 4, 4)
    t = torch.tensor([0, 400, 999])
    xt, v = add_noise(sch, x0, eps, t), velocity(sch, x0, eps, t)
    a = sch.alphas_cumprod[t].view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(a.sqrt() * xt - (1 - a).sqrt() * v, x0, atol=1e-5, rtol=0)  # x0 = √ᾱ·x_t − √(1−ᾱ)·v


# music front-ends -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def click_track(tmp_path_factory):
    import soundfile as sf

    sr, bpm, seconds = 22050, 120, 6.0
    y = np.zeros(int(sr * seconds), np.float32)
    rng = np.random.default_rng(0)
    for beat in np.arange(0.25, seconds, 60 / bpm):
        i = int(beat * sr)
        y[i:i + 800] += (np.exp(-np.arange(800) / 120) * rng.uniform(-1, 1, 800)).astype(np.float32)
    y += 0.01 * np.sin(2 * np.pi * 440 * np.arange(len(y)) / sr).astype(np.float32)
    path = tmp_path_factory.mktemp("music") / "clicks.wav"
    sf.write(path, y, sr)
    return path


def test_edge35_matches_librosa_recipe_at_30fps(click_track):
    """At 30 fps the features are EDGE's recipe exactly (librosa called here as the oracle)."""
    import librosa

    from evalkit.models.m2p.music import edge35_features

    feats = edge35_features(click_track, 30.0)
    sr = 30 * 512
    y, _ = librosa.load(click_track, sr=sr)
    env = librosa.onset.onset_strength(y=y, sr=sr)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20).T
    chroma = librosa.feature.chroma_cens(y=y, sr=sr, hop_length=512, n_chroma=12).T
    assert feats.shape == (len(env), 35)
    np.testing.assert_allclose(feats[:, 0], env, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(feats[:, 1:21], mfcc, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(feats[:, 21:33], chroma, rtol=1e-3, atol=1e-3)
    beat_frames = np.flatnonzero(feats[:, 34])
    # clicks every 0.5 s = 15 frames at 30 fps
    assert len(beat_frames) >= 8 and np.median(np.diff(beat_frames)) == pytest.approx(15, abs=1)
    assert set(np.unique(feats[:, 33:35])) <= {0.0, 1.0}


def test_edge35_at_10fps_pools_three_frames(click_track):
    from evalkit.models.m2p.music import edge35_features

    f30, f10 = edge35_features(click_track, 30.0), edge35_features(click_track, 10.0, num_frames=55)
    assert f10.shape == (55, 35)
    blocks = f30[:165].reshape(55, 3, 35)
    np.testing.assert_allclose(f10[:, :33], blocks[:, :, :33].mean(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(f10[:, 33:], blocks[:, :, 33:].max(1))
    with pytest.raises(EvalkitError, match="music covers"):
        edge35_features(click_track, 10.0, num_frames=80)


def test_jukebox_plugin(tmp_path):
    from evalkit.models.m2p.music import music_features

    feats = np.random.default_rng(0).normal(size=(60, 4800)).astype(np.float32)  # 2 s at 30 fps
    np.save(tmp_path / "song.npy", feats)
    out = music_features(tmp_path / "song.wav", 10.0, 20, frontend="jukebox", jukebox_dir=tmp_path)
    assert out.shape == (20, 4800)
    np.testing.assert_allclose(out[5], feats[15], atol=1e-6)  # 0.5 s lands on a 30-fps frame
    np.save(tmp_path / "bad.npy", feats[:, :100])
    with pytest.raises(EvalkitError, match="4800"):
        music_features(tmp_path / "bad.wav", 10.0, frontend="jukebox", jukebox_dir=tmp_path)
    with pytest.raises(EvalkitError, match="no Jukebox features"):
        music_features(tmp_path / "other.wav", 10.0, frontend="jukebox", jukebox_dir=tmp_path)


def test_m2penc_sequence_encoder_regresses_keypoints_from_the_whole_window():
    """seq_layers > 0: a frame transformer reads the music first; the keypoint head gives (B, K, F, 2) latent
    pixels, every joint starting at the grid's centre, and a frame's keypoints depend on the other frames' music
    (unlike the paper's M2PEnc, whose temporal attention starts as identity). Without it: no keypoints."""
    cfg = get_config("micro", m2penc=dict(reference_pose=False))
    torch.manual_seed(0)
    enc = M2PModel(cfg).m2penc.eval()
    assert enc.regresses_keypoints and not M2PModel(get_config("micro", m2penc=dict(seq_layers=0))).m2penc.regresses_keypoints
    music = torch.randn(2, 5, 35)
    changed = music.clone()
    changed[:, 4] += 5.0
    with torch.no_grad():
        guid, heat, kp = enc(music, keypoints=True)
        s = cfg.latent_size
        assert guid.shape == (2, cfg.guid_channels, 5, s, s) and heat.shape == (2, 17, 5, s, s)
        assert kp.shape == (2, 17, 5, 2) and (kp - (s - 1) / 2).abs().max() < 3.0
        assert len(enc(music)) == 2
        assert (enc(changed, keypoints=True)[2][:, :, 0] - kp[:, :, 0]).abs().max() > 1e-3


def test_m2penc_reads_the_reference_pose_and_predicts_displacements_in_its_height():
    """reference_pose: at initialisation every frame draws the reference's pose; the keypoints are the reference's
    plus the head's displacement times the body's height (a body twice as tall, shifted, moves twice as far from
    its own joints); the reference's shape reaches every frame; without a reference the training mean is used."""
    from evalkit.models.m2p.m2penc import reference_frame

    cfg = get_config("micro")
    torch.manual_seed(0)
    enc = M2PModel(cfg).m2penc.eval()
    assert enc.reads_reference_pose
    k, s = 17, cfg.latent_size
    ref = torch.cat([torch.rand(1, k, 2) * 3 + 2, torch.ones(1, k, 1)], -1)
    ref[0, 5, 2] = 0.0  # one joint not visible
    music = torch.randn(1, 5, 35)
    with torch.no_grad():
        kp = enc(music, keypoints=True, reference=ref)[2]
        assert torch.allclose(kp, ref[:, :, None, :2].expand(-1, -1, 5, -1))  # zero displacement: the pose held
        for p in list(enc.kp_head.parameters()) + list(enc.ref_in.parameters()):
            p.normal_(0, 0.1)
        kp = enc(music, keypoints=True, reference=ref)[2]
        centre, height, shape = reference_frame(ref, s)
        assert shape.shape == (1, 3 * k + 3) and float(shape[0, 2 * k + 5]) == 0.0  # the hidden joint's visibility
        big = ref.clone()
        big[..., :2] = (ref[..., :2] - centre[:, None]) * 2 + centre[:, None] + 1.5
        c2, h2, shape2 = reference_frame(big, s)
        assert torch.allclose(h2, 2 * height) and torch.allclose(shape2[:, : 3 * k], shape[:, : 3 * k], atol=1e-6)
        kp2 = enc(music, keypoints=True, reference=big)[2]
        # the same normalised shape but another centre/height: the displacement differs only through those two
        # features, so compare with them pinned by a zero centre/height weight
        enc.ref_in.weight[:, 3 * k:] = 0
        kp, kp2 = enc(music, keypoints=True, reference=ref)[2], enc(music, keypoints=True, reference=big)[2]
        torch.testing.assert_close(kp2 - big[:, :, None, :2], 2 * (kp - ref[:, :, None, :2]), atol=1e-5, rtol=1e-4)
        other = ref.clone()
        other[0, 9, :2] += 1.0  # another body shape changes every frame's displacement
        assert (enc(music, keypoints=True, reference=other)[2] - other[:, :, None, :2]
                - (kp - ref[:, :, None, :2])).abs()[:, :, :].amax(dim=(1, 3)).min() > 1e-6
        enc.set_reference_mean(ref[0])
        torch.testing.assert_close(enc(music, keypoints=True)[2], kp)


def test_keypoint_term_is_the_mean_distance_over_visible_joints():
    """ν·(distance of the regressed keypoints to the target Gaussians' centres), joints with empty maps left out."""
    from evalkit.models.m2p.data import heatmaps
    from evalkit.models.m2p.m2penc import keypoint_targets, m2penc_loss

    joints = np.concatenate([np.random.default_rng(0).uniform(20, 44, (4, 3, 2)), np.ones((4, 3, 1))], -1)
    joints[1, 2, 2] = 0.0  # not visible: empty map
    heat = torch.from_numpy(heatmaps(joints, (64, 64), 64, 16, sigma=1.0)).permute(1, 0, 2, 3)[None]
    xy, vis = keypoint_targets(heat)
    assert vis.sum() == 11 and not vis[0, 2, 1]
    torch.testing.assert_close(xy[0][vis[0]], torch.from_numpy((joints[..., :2].transpose(1, 0, 2) + 0.5) / 4 - 0.5)[
        vis[0]].float(), atol=5e-3, rtol=0)
    guid = torch.randn(1, 4, 4, 16, 16)
    off = xy + torch.tensor([3.0, 4.0])
    off[0, 2, 1] += 100.0  # the invisible joint's error does not count
    plain, _ = m2penc_loss(guid, heat, guid, heat)
    loss, parts = m2penc_loss(guid, heat, guid, heat, keypoints=off, keypoint_weight=2.0)
    assert abs(float(parts["kp_error"]) - 5.0) < 1e-4 and abs(float(loss - plain) - 10.0) < 1e-3
    assert float(m2penc_loss(guid, heat, guid, heat, keypoints=xy, keypoint_weight=2.0)[1]["kp_error"]) < 1e-6


def test_kinetic_profile_reads_the_speed_of_moving_keypoints():
    """Gaussian heatmaps whose centres move at known speeds: soft-argmax finds the centres and the profile is
    the mean speed; the motion term is 0 for equal profiles and the loss without it is the paper's."""
    from evalkit.models.m2p.data import heatmaps
    from evalkit.models.m2p.m2penc import kinetic_profile, m2penc_loss, soft_argmax

    t = np.arange(12, dtype=np.float64)
    speed = np.array([0.5, 0.0, 0.75])  # latent px per frame along x, per joint (centres stay 3σ inside)
    joints = np.zeros((12, 3, 3))
    joints[..., 0] = 16.0 + speed[None, :] * t[:, None] * 4  # image px; 4 px per latent px (64 → 16)
    joints[..., 1] = 30.0
    joints[..., 2] = 1.0
    heat = torch.from_numpy(heatmaps(joints, (64, 64), 64, 16, sigma=1.0)).permute(1, 0, 2, 3)[None]  # (1,K,F,s,s)
    xy = soft_argmax(heat)[0]
    expected_x = (joints[..., 0].T + 0.5) / 4 - 0.5
    assert np.allclose(xy[..., 0].numpy(), expected_x, atol=5e-3)  # centre of mass of a Gaussian on the grid
    prof = kinetic_profile(heat)[0].numpy()
    assert np.allclose(prof, speed.mean(), atol=5e-3)
    guid = torch.randn(1, 4, 12, 16, 16)
    base, parts = m2penc_loss(guid, heat, guid * 0.5, heat, heat_weight=10.0)
    with_motion, parts_m = m2penc_loss(guid, heat, guid * 0.5, heat, heat_weight=10.0, motion_weight=3.0)
    assert "motion_mse" not in parts and float(parts_m["motion_mse"]) < 1e-10
    assert torch.allclose(base, torch.nn.functional.mse_loss(guid, guid * 0.5)) and torch.allclose(base, with_motion)
