"""m2p guidance drawn from M2PEnc's keypoints: readout, drawing, the sampler path and the training stages."""
import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.models.m2p.config import get_config
from evalkit.models.m2p.data import heatmaps
from evalkit.models.m2p.keypoint_guidance import (
    drop_maps, heat_sequence, keypoint_guidance, keypoints_from_heat, m2penc_keypoints, render_skeletons,
    skeleton_type,
)
from evalkit.models.m2p.windows import windows

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = get_config("micro")


def _model(cfg):
    from evalkit.models.m2p.model import M2PModel

    torch.manual_seed(0)
    m = M2PModel(cfg).eval()
    with torch.no_grad():  # conv_out starts at zero (CHAMP): give the encoders an output to compare
        for enc in m.guidance.values():
            enc.conv_out.weight.normal_(0, 0.05)
        m.m2penc.heat_head.bias.fill_(0.05)  # some joints visible, some not
        m.m2penc.heat_head.weight.normal_(0, 0.1)
        if m.m2penc.reads_reference_pose:  # displacements that depend on the music and the reference's shape
            for p in list(m.m2penc.kp_head.parameters()) + list(m.m2penc.ref_in.parameters()):
                p.normal_(0, 0.05)
            mean = torch.zeros(17, 3)
            mean[:, 0], mean[:, 1], mean[:, 2] = 4.0, torch.linspace(1, 7, 17), 1.0
            m.m2penc.set_reference_mean(mean)
    return m


@pytest.fixture(scope="module")
def model():
    """M2PEnc with the sequence encoder, regressing displacements from the reference pose it reads, as tiny."""
    return _model(CFG)


@pytest.fixture(scope="module")
def retarget_model():
    """M2PEnc regressing absolute keypoints (checkpoint 65959f45): mapped onto the reference body afterwards."""
    return _model(CFG.with_overrides(m2penc=dict(reference_pose=False)))


@pytest.fixture(scope="module")
def heat_model():
    """The paper's M2PEnc (keypoints read from the heatmaps)."""
    return _model(CFG.with_overrides(m2penc=dict(seq_layers=0)))


def test_keypoints_from_heat_recovers_the_joints():
    """Gaussians drawn at known pixel positions (as the training targets are) → the same pixels, within 0.2 px
    (joints ≥ 3σ from the border; the half-peak readout sees ~12 grid points of a σ = 2 Gaussian, so it is off by
    up to 0.04 latent px = 0.16 px); a joint with confidence 0 has an empty map: not visible."""
    rng = np.random.default_rng(0)
    size, latent, sigma = 128, 32, 2.0
    joints = np.concatenate([rng.uniform(30, 98, (5, 17, 2)), np.ones((5, 17, 1))], -1)
    joints[2, 4, 2] = 0.0
    heat = torch.from_numpy(heatmaps(joints, (size, size), size, latent, sigma)).permute(1, 0, 2, 3)[None]
    kp = keypoints_from_heat(heat, size)
    shown = joints[..., 2] > 0
    assert np.abs(kp[..., :2] - joints[..., :2])[shown].max() < 0.2
    assert kp[2, 4, 2] == 0 and kp[..., 2][shown].min() == 1


def test_keypoints_take_their_place_from_the_peak_and_their_motion_from_the_soft_argmax():
    """Still joints under a diffuse positive background that pulses with the beat: the plain soft-argmax drifts
    towards the map centre and moves with the pulse; the anchored readout is centred on the joints (its mean over
    whole pulse periods within 0.2 px) and keeps the pulse's timing (its motion is the soft-argmax's deviation
    from its moving average)."""
    from evalkit.models.m2p.m2penc import soft_argmax

    size, latent, frames = 128, 32, 40
    joints = np.concatenate([np.random.default_rng(3).uniform(30, 98, (1, 17, 2)), np.ones((1, 17, 1))], -1)
    peaks = torch.from_numpy(heatmaps(np.repeat(joints, frames, 0), (size, size), size, latent, 2.0))
    pulse = 0.02 + 0.01 * torch.sin(torch.arange(frames) * 2 * np.pi / 10)
    heat = (peaks + pulse.view(-1, 1, 1, 1)).permute(1, 0, 2, 3)[None]
    kp = keypoints_from_heat(heat, size, anchor_frames=10)
    plain = (soft_argmax(heat)[0].permute(1, 0, 2).numpy() + 0.5) * (size / latent) - 0.5
    assert np.abs(plain - joints[..., :2]).mean() > 5  # pulled towards the centre
    assert np.abs(kp[5:35, :, :2].mean(0) - joints[0, :, :2]).max() < 0.2
    wiggle = kp[:, 0, 0] - kp[:, 0, 0].mean()
    assert np.corrcoef(wiggle, plain[:, 0, 0] - plain[:, 0, 0].mean())[0, 1] > 0.9


def test_render_skeletons_draws_the_training_maps():
    from evalkit.data.synth.draw import draw_skeleton

    kp = np.concatenate([np.random.default_rng(1).uniform(5, 27, (3, 17, 2)), np.ones((3, 17, 1))], -1)
    maps = render_skeletons(kp, 32)
    assert maps.shape == (1, 3, 3, 32, 32)
    want = torch.from_numpy(draw_skeleton(kp[1], 32, 32)).permute(2, 0, 1).float() / 255
    assert torch.equal(maps[0, :, 1], want) and maps.max() > 0


def test_drop_maps_zeroes_all_but_the_skeleton():
    maps = {t: torch.rand(3, 3, 2, 4, 4) + 0.1 for t in CFG.guidance_types}
    skel = skeleton_type(CFG.guidance_types)
    assert skel == "skeleton" and skeleton_type(("depth", "dwpose")) == "dwpose"
    drop = torch.tensor([True, False, True])
    out = drop_maps(maps, skel, drop)
    assert torch.equal(out[skel], maps[skel])
    for t in CFG.guidance_types:
        if t != skel:
            assert out[t][[0, 2]].abs().sum() == 0 and torch.equal(out[t][1], maps[t][1])
            assert drop_maps(maps, skel)[t].abs().sum() == 0


def test_keypoint_guidance_is_the_encoders_on_the_drawn_skeleton(heat_model):
    """Without a sequence encoder the keypoints are read from the heatmaps."""
    model = heat_model
    feats = np.random.default_rng(2).normal(size=(30, 35)).astype(np.float32)
    heat = heat_sequence(model, feats, CFG.window, CFG.overlap)
    assert heat.shape == (1, CFG.heat_channels, 30, CFG.latent_size, CFG.latent_size)
    skel = render_skeletons(keypoints_from_heat(heat, CFG.size, CFG.keypoint_anchor), CFG.size)
    with torch.no_grad():
        want = model.guidance(drop_maps({t: skel for t in CFG.guidance_types}, "skeleton"))
        got = keypoint_guidance(model, feats)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_regressed_keypoints_are_drawn_averaged_over_windows(model):
    """With a sequence encoder the drawn keypoints are its regressed ones: latent → image pixels, each frame the
    mean over the windows covering it, visibility from the heatmap peak; the guidance is the encoders on them."""
    feats = np.random.default_rng(3).normal(size=(14, 35)).astype(np.float32)
    kp = m2penc_keypoints(model, feats)
    x = torch.from_numpy(feats)[None]
    acc, count = np.zeros((14, 17, 2)), np.zeros((14, 1, 1))
    with torch.no_grad():
        for a, b in windows(14, CFG.window, CFG.overlap):
            acc[a:b] += model.m2penc(x[:, a:b], keypoints=True)[2][0].numpy().transpose(1, 0, 2)
            count[a:b] += 1
    f = CFG.size / CFG.latent_size
    np.testing.assert_allclose(kp[..., :2], (acc / count + 0.5) * f - 0.5, atol=1e-4, rtol=0)
    heat = heat_sequence(model, feats, CFG.window, CFG.overlap)
    assert np.array_equal(kp[..., 2] > 0, (heat[0].amax(dim=(-2, -1)) >= 0.1).T.numpy())
    skel = render_skeletons(kp, CFG.size)
    with torch.no_grad():
        want = model.guidance(drop_maps({t: skel for t in CFG.guidance_types}, "skeleton"))
        torch.testing.assert_close(keypoint_guidance(model, feats), want, rtol=0, atol=0)


def test_body_prior_is_the_average_sdgpip_stance():
    """The prior retarget maps from: SDGPip dancers' relaxed stance, hip centre near the frame's middle, feet low,
    about 0.63 of the frame from head to feet; measured again from a few dancers it agrees within their spread."""
    from evalkit.models.m2p.keypoint_guidance import sdgpip_body_prior

    hip_x, feet, height = sdgpip_body_prior()
    assert abs(hip_x - 0.5) < 0.01 and 0.85 < feet < 0.9 and 0.6 < height < 0.66
    few = sdgpip_body_prior.__wrapped__(16)
    assert np.allclose(few, (hip_x, feet, height), atol=0.03)


def test_retarget_maps_the_average_body_onto_the_reference():
    """Keypoints drawn for the prior body move onto the reference's: a reference equal to the prior leaves them in
    place; a reference 1.2× taller with feet and hips elsewhere scales every offset by 1.2 about the anchor; a
    reference without visible ankles cannot be measured (None)."""
    from evalkit.models.m2p.keypoint_guidance import body_measure, retarget

    size, prior = 128, (0.5, 0.875, 0.625)  # hip x 64, feet 112, height 80 px
    body = np.zeros((17, 3))
    body[:, 2] = 1.0
    body[:5, :2] = [64, 32]  # face
    body[[11, 12], :2] = [[58, 70], [70, 70]]
    body[[15, 16], :2] = [[60, 112], [68, 112]]
    assert np.allclose(body_measure(body), [64, 112, 80])
    kp = np.concatenate([np.random.default_rng(0).uniform(20, 110, (5, 17, 2)), np.ones((5, 17, 1))], -1)
    assert np.allclose(retarget(kp, body, size, prior), kp)
    tall = body.copy()
    tall[:, :2] = (body[:, :2] - [64, 112]) * 1.2 + [70, 115]
    moved = retarget(kp, tall, size, prior)
    assert np.allclose(moved[..., :2], (kp[..., :2] - [64, 112]) * 1.2 + [70, 115]) and np.array_equal(moved[..., 2], kp[..., 2])
    hidden = body.copy()
    hidden[[15, 16], 2] = 0.0
    assert body_measure(hidden) is None and retarget(kp, hidden, size, prior) is None


def _body():
    body = np.zeros((17, 3))
    body[:, 2] = 1.0
    body[:5, :2] = [24, 4]
    body[[11, 12], :2] = [[22, 16], [26, 16]]
    body[[15, 16], :2] = [[22, 30], [26, 30]]
    return body


def test_pipeline_maps_keypoints_onto_the_reference_body(retarget_model, monkeypatch):
    """generate(reference_keypoints=…) brings them into the model's frame (centre square, model size) and the
    keypoint guidance draws M2PEnc's keypoints on that body; retarget=False, no keypoints, or an unmeasurable body
    leave the video as without, and ``last_retarget`` says which happened."""
    import evalkit.models.m2p.keypoint_guidance as kg
    from evalkit.models.m2p.pipeline import M2PPipeline

    monkeypatch.setattr(kg, "sdgpip_body_prior", lambda: (0.5, 0.875, 0.625))
    ref = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)  # wide: centre square x 8..40
    music = np.random.default_rng(1).normal(size=(12, 35)).astype(np.float32)
    body, model = _body(), retarget_model
    pipe = M2PPipeline(model, steps=2)
    plain = pipe.generate(None, ref, 12, 10.0, seed=0, music=music)
    assert pipe.last_retarget == "no reference keypoints"
    seen = {}
    real = kg.retarget
    monkeypatch.setattr(kg, "retarget", lambda kp, r, size: seen.setdefault("ref", r) is not None and real(kp, r, size))
    moved = pipe.generate(None, ref, 12, 10.0, seed=0, music=music, reference_keypoints=body)
    assert pipe.last_retarget == "reference body" and not np.array_equal(moved, plain)
    s = CFG.size / 32
    np.testing.assert_allclose(seen["ref"][:, 0], (body[:, 0] - 8 + 0.5) * s - 0.5)
    np.testing.assert_allclose(seen["ref"][:, 1], (body[:, 1] + 0.5) * s - 0.5)
    off = M2PPipeline(model, steps=2, retarget=False)
    assert np.array_equal(off.generate(None, ref, 12, 10.0, seed=0, music=music, reference_keypoints=body), plain)
    assert off.last_retarget == "off"
    hidden = body.copy()
    hidden[[15, 16], 2] = 0.0
    assert np.array_equal(pipe.generate(None, ref, 12, 10.0, seed=0, music=music, reference_keypoints=hidden), plain)
    assert pipe.last_retarget == "not measurable"


def test_pipeline_gives_m2penc_the_reference_pose_in_latent_pixels(model, monkeypatch):
    """An M2PEnc with reference_pose reads the reference's keypoints (the model's frame → latent pixels, visible
    1/0) and draws on that body without a retarget afterwards; without keypoints, or with an unmeasurable body, it
    reads its training mean reference (the video without keypoints), and ``last_retarget`` says which."""
    import evalkit.models.m2p.keypoint_guidance as kg
    from evalkit.models.m2p.pipeline import M2PPipeline

    monkeypatch.setattr(kg, "retarget", lambda *a: pytest.fail("a reference-reading M2PEnc needs no retarget"))
    ref = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    music = np.random.default_rng(1).normal(size=(12, 35)).astype(np.float32)
    body = _body()
    seen = []
    real = model.m2penc.forward
    monkeypatch.setattr(model.m2penc, "forward", lambda *a, **k: seen.append(k.get("reference")) or real(*a, **k))
    pipe = M2PPipeline(model, steps=2)
    plain = pipe.generate(None, ref, 12, 10.0, seed=0, music=music)
    assert pipe.last_retarget == "no reference keypoints" and all(r is None for r in seen)
    seen.clear()
    drawn = pipe.generate(None, ref, 12, 10.0, seed=0, music=music, reference_keypoints=body)
    assert pipe.last_retarget == "reference body" and not np.array_equal(drawn, plain)
    got = seen[0][0].cpu().numpy()  # 48×32 image: centre square x 8..40, one latent pixel per 4 image pixels
    np.testing.assert_allclose(got[:, 0], (body[:, 0] - 8 + 0.5) / 4 - 0.5, atol=1e-6)
    np.testing.assert_allclose(got[:, 1], (body[:, 1] + 0.5) / 4 - 0.5, atol=1e-6)
    assert (got[:, 2] == 1).all()
    hidden = body.copy()
    hidden[[15, 16], 2] = 0.0
    assert np.array_equal(pipe.generate(None, ref, 12, 10.0, seed=0, music=music, reference_keypoints=hidden), plain)
    assert pipe.last_retarget == "not measurable"


def test_pipeline_guidance_source_option(heat_model):
    from evalkit.models.m2p.pipeline import M2PPipeline

    model = heat_model
    ref = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    music = np.random.default_rng(1).normal(size=(12, 35)).astype(np.float32)
    plain = M2PPipeline(model, steps=2, guidance_source="m2penc").generate(None, ref, 12, 10.0, seed=0, music=music)
    drawn = M2PPipeline(model, steps=2, guidance_source="keypoints").generate(None, ref, 12, 10.0, seed=0, music=music)
    assert drawn.shape == plain.shape and not np.array_equal(drawn, plain)
    with pytest.raises(EvalkitError, match="guidance_source"):
        M2PPipeline(model, guidance_source="pose")
    # keypoint_anchor: the readout's moving average; the config's own value gives the default's video exactly
    same = M2PPipeline(model, steps=2, guidance_source="keypoints", keypoint_anchor=CFG.keypoint_anchor)
    assert np.array_equal(same.generate(None, ref, 12, 10.0, seed=0, music=music), drawn)
    short = M2PPipeline(model, steps=2, guidance_source="keypoints", keypoint_anchor=1)
    assert short.generate(None, ref, 12, 10.0, seed=0, music=music).shape == drawn.shape
    with pytest.raises(EvalkitError, match="keypoint_anchor"):
        M2PPipeline(model, keypoint_anchor=0)


def test_training_stages_see_only_the_skeleton_where_asked():
    """Stage 2 with guidance_dropout draws which samples lose their other maps; stage 3 in keypoints mode drives
    the denoiser from the skeleton alone: its diffusion loss ignores the semantic and depth maps."""
    from evalkit.models.m2p.data import ClipSet
    from evalkit.models.m2p.model import M2PModel
    from evalkit.models.m2p.train import StageLoss, draw_batch
    from test_m2p_train import fake_clips

    data = ClipSet(fake_clips(n=3))
    cfg = CFG.with_overrides(guidance_dropout=0.5, guidance_source="keypoints")
    b2 = draw_batch(data, cfg, 2, 3, 1, torch.Generator().manual_seed(0), "cpu")
    assert b2["drop"].dtype == torch.bool and "drop" not in draw_batch(
        data, CFG.with_overrides(guidance_dropout=0.0), 2, 3, 1, torch.Generator().manual_seed(0), "cpu")
    torch.manual_seed(0)
    model = M2PModel(cfg).eval()
    with torch.no_grad():
        for enc in model.guidance.values():
            enc.conv_out.weight.normal_(0, 0.05)
        assert torch.isfinite(StageLoss(model, 2)(b2)[0])
        b3 = draw_batch(data, cfg, 3, 2, 4, torch.Generator().manual_seed(1), "cpu")
        other = {**b3, "guidance": {k: (v if k == "skeleton" else torch.rand_like(v)) for k, v in b3["guidance"].items()}}
        diff_a, diff_b = StageLoss(model, 3)(b3)[1], StageLoss(model, 3)(other)[1]
        assert torch.equal(diff_a, diff_b)
        model.cfg = cfg.with_overrides(guidance_source="m2penc")
        assert torch.isfinite(StageLoss(model, 3)(b3)[1])
