"""m2p on seed paper 1's route: stage 2 learns from the frozen M2PEnc's guidance only, stage 3's loss is
0.5·L_pix + 0.5·L_guid, the recipe is recorded, and the m2p-paper generator never runs without a paper checkpoint."""
import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.models.m2p.config import get_config
from evalkit.models.m2p.data import ClipSet
from evalkit.models.m2p.m2penc import m2penc_loss
from evalkit.models.m2p.model import M2PModel, read_checkpoint, save_checkpoint
from evalkit.models.m2p.train import (STAGE3_WEIGHTS, StageLoss, TrainOptions, draw_batch, frozen_modes,
                                      set_trainable, train_stage)
from test_m2p_train import fake_clips

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PAPER = get_config("micro", route="paper")


def paper_model(seed: int = 0) -> M2PModel:
    """A micro model on the paper route whose M2PEnc guidance is not zero (its head is zero-initialised)."""
    torch.manual_seed(seed)
    model = M2PModel(PAPER)
    with torch.no_grad():
        model.m2penc.guid_head.weight.normal_(0, 0.05)
        model.m2penc.guid_head.bias.normal_(0, 0.05)
    return model


@pytest.fixture(scope="module")
def data():
    return ClipSet(fake_clips(frames=8))


def test_paper_route_switch():
    assert PAPER.route == "paper" and PAPER.guidance_source == "m2penc" and PAPER.guidance_dropout == 0
    full = get_config("full", route="paper")
    assert full.route == "paper" and full.guidance_source == "m2penc"
    assert get_config("tiny").route == "keypoints" and get_config("tiny").guidance_source == "keypoints"
    with pytest.raises(EvalkitError, match="unknown m2p route"):
        get_config("tiny", route="champ")
    from evalkit.models.m2p.train import clip_needs

    # what the clips must carry (music + heatmaps, guidance maps): the paper's stage 2 reads music and no map
    assert clip_needs(PAPER, [2]) == (True, False) and clip_needs(get_config("micro"), [2]) == (False, True)
    assert clip_needs(PAPER, [2, 3]) == (True, True) and clip_needs(PAPER, [0]) == (False, False)



def test_train_cli_takes_the_route(capsys):
    from evalkit.cli import main

    assert main(["train", "m2p", "--stage", "2", "--route", "champ"]) == 2
    assert "unknown m2p route 'champ'" in capsys.readouterr().err
    assert main(["train", "posedit", "--route", "paper"]) == 2
    assert "--route is an m2p option" in capsys.readouterr().err


def test_stage2_reaches_the_denoiser_only_through_m2penc(data):
    """Paper stage 2: the batch carries no true maps; maps put into it anyway get no gradient and leave the loss
    unchanged; M2PEnc (eval mode) gets no gradient, the denoiser's spatial layers and the reference path do; the
    guidance the denoiser reads is M2PEnc's at the picked frame, so the music changes the loss."""
    model = paper_model()
    params = set_trainable(model, 2)
    frozen_modes(model, 2)
    batch = draw_batch(data, PAPER, 2, 2, 1, torch.Generator().manual_seed(0), "cpu")
    assert batch["guidance"] == {} and batch["music"].shape[1] == PAPER.window and batch["pick"].shape == (2,)
    assert not model.m2penc.training and all(not p.requires_grad for p in model.m2penc.parameters())
    assert not any(p.requires_grad for p in model.guidance.parameters())  # not in the loop
    seen = []
    model.denoiser.register_forward_pre_hook(lambda _m, args: seen.append(args[3].detach().clone()))
    g = torch.Generator().manual_seed(1)
    size = (2, 3, PAPER.window, PAPER.size, PAPER.size)
    maps_a = {t: torch.rand(size, generator=g).requires_grad_() for t in PAPER.guidance_types}
    maps_b = {t: torch.rand(size, generator=g) for t in PAPER.guidance_types}
    loss_a = StageLoss(model, 2)({**batch, "guidance": maps_a})[0]
    loss_a.backward()
    loss_b = StageLoss(model, 2)({**batch, "guidance": maps_b})[0]
    assert torch.equal(loss_a.detach(), loss_b.detach())
    assert all(m.grad is None for m in maps_a.values())
    assert all(p.grad is None for p in model.m2penc.parameters())
    assert all(p.grad is None for p in model.guidance.parameters())
    trained = [p for p in params if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(trained) > len(params) // 2
    # what the denoiser read: M2PEnc's guidance for the music window, at each sample's picked frame
    with torch.no_grad():
        guid = model.m2penc(batch["music"], reference=batch["reference_kp"])[0]
    expect = torch.stack([guid[i, :, int(batch["pick"][i])] for i in range(2)]).unsqueeze(2)
    torch.testing.assert_close(seen[0], expect, rtol=0, atol=0)
    louder = StageLoss(model, 2)({**batch, "music": batch["music"] * 3 + 1})[0]
    assert abs(float(louder.detach()) - float(loss_a.detach())) > 1e-6


def _stage3_parts(model, batch):
    """L_pix (the denoiser's diffusion loss on M2PEnc's guidance) and L_guid (M2PEnc's loss against the frozen
    encoders' maps and the heatmaps), computed here from the model's parts rather than read from the stage."""
    cfg = model.cfg
    guid, heat, kp = model.m2penc(batch["music"], keypoints=True, reference=batch["reference_kp"])
    with torch.no_grad():
        teacher = model.guidance(batch["guidance"])
    l_guid, _ = m2penc_loss(guid, heat, teacher, batch["heat"], cfg.heat_weight, cfg.motion_weight, kp,
                            cfg.keypoint_weight)
    l_pix = StageLoss(model, 3)._diffusion(batch, guid, grad_reference=False)
    return l_pix, l_guid


def test_stage3_loss_is_half_pixel_half_guidance(data):
    """On two batches the stage-3 loss is w_pix·L_pix + w_guid·L_guid; solving the two equations gives 0.5 / 0.5
    (to 1e-4), and the denoiser's loss reaches M2PEnc (its guidance head gets a gradient from L_pix alone)."""
    model = paper_model(1)
    set_trainable(model, 3)
    model.eval()  # no dropout: the stage and the parts computed here see the same network
    rows, totals = [], []
    for seed in (0, 1):
        batch = draw_batch(data, PAPER, 3, 1, 4, torch.Generator().manual_seed(seed), "cpu")
        with torch.no_grad():
            total, l_diff, l_m2p = StageLoss(model, 3)(batch)
            l_pix, l_guid = _stage3_parts(model, batch)
        torch.testing.assert_close(l_diff, l_pix, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(l_m2p, l_guid, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(total, 0.5 * l_pix + 0.5 * l_guid, rtol=1e-5, atol=1e-7)
        rows.append([float(l_pix), float(l_guid)])
        totals.append(float(total))
    weights = np.linalg.solve(np.array(rows, np.float64), np.array(totals, np.float64))
    np.testing.assert_allclose(weights, [0.5, 0.5], atol=1e-4)
    assert STAGE3_WEIGHTS == (0.5, 0.5)
    l_pix, _ = _stage3_parts(model, batch)
    l_pix.backward()
    assert model.m2penc.guid_head.weight.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def keypoint_run(tmp_path_factory, data):
    """Stages 0, 2, 1 on the keypoint route (one step each): what the paper route starts from."""
    out = tmp_path_factory.mktemp("kp")
    cfg = get_config("micro")
    for s in (0, 2, 1):
        train_stage(cfg, data, TrainOptions(stage=s, out=out, steps=1, progress=False))
    return out


def test_paper_stages_need_m2penc_then_a_paper_stage_2_and_record_the_recipe(keypoint_run, data, tmp_path):
    import shutil

    run = shutil.copytree(keypoint_run, tmp_path / "run")
    opts = lambda stage, **kw: TrainOptions(stage=stage, out=run, steps=1, progress=False, **kw)  # noqa: E731
    with pytest.raises(EvalkitError, match=r"2 \(paper route\)"):  # its stage 2 learned from the true maps
        train_stage(PAPER, data, opts(3))
    with pytest.raises(EvalkitError, match="needs stage"):  # a paper stage 2 without a trained M2PEnc
        train_stage(PAPER, data, TrainOptions(stage=2, out=tmp_path / "fresh", steps=1, progress=False,
                                              init=keypoint_run / "stage0" / "last.safetensors"))
    before = read_checkpoint(run / "latest.safetensors")[2]
    train_stage(PAPER, data, opts(2))
    after = read_checkpoint(run / "latest.safetensors")[2]
    moved = {k.split(".")[0] for k in after if not torch.equal(after[k], before[k])}
    assert moved <= {"reference_unet", "denoiser", "image_encoder"} and "denoiser" in moved  # M2PEnc frozen
    assert (run / "stage2-paper" / "log.csv").is_file() and (run / "stage2" / "log.csv").is_file()
    train_stage(PAPER, data, opts(3))
    cfg, meta, _ = read_checkpoint(run / "latest.safetensors")
    assert cfg.route == "paper" and meta["stage2"]["route"] == "paper" and meta["stage3"]["route"] == "paper"
    recipe = meta["recipe"]
    assert [(r["stage"], r["route"], r["steps"]) for r in recipe] == [
        (0, "keypoints", 1), (2, "keypoints", 1), (1, "keypoints", 1), (2, "paper", 1), (3, "paper", 1)]
    assert recipe[0]["init"] == "fresh" and recipe[3]["init"].startswith("previous stage")
    # what made each stage: its loss (stage 3's weights, stage 2's guidance source), budget, device
    assert recipe[4]["loss_weights"] == {"pix": 0.5, "guid": 0.5} and "loss_weights" not in recipe[3]
    assert recipe[3]["guidance"] == "M2PEnc, frozen, in the loop" and "guidance" not in recipe[1]
    assert all(r["device"] == "cpu" and r["max_minutes"] is None for r in recipe)
    # a stage started from another file names it with its hash
    out2 = tmp_path / "from_init"
    train_stage(PAPER, data, TrainOptions(stage=3, out=out2, steps=1, progress=False, init=run / "latest.safetensors"))
    last = read_checkpoint(out2 / "latest.safetensors")[1]["recipe"][-1]
    assert last["init"].startswith("latest.safetensors sha256:") and len(last["init"].split(":")[1]) == 8


def test_recipe_keeps_a_hand_written_one_first():
    """A checkpoint from before the recipe list (the committed tiny: free text and an init name) keeps them as the
    first entry; a list grows by one entry per stage."""
    from evalkit.models.training import with_recipe

    old = {"recipe": "keypoint guidance: stage 2, 1, 3", "init": "721728a6", "stages": ["0"]}
    new = with_recipe(old, {"stage": 1, "route": "paper"})
    assert new["recipe"] == [{"written_by_hand": "keypoint guidance: stage 2, 1, 3", "init": "721728a6"},
                             {"stage": 1, "route": "paper"}]
    assert with_recipe(new, {"stage": 2})["recipe"][1:] == [{"stage": 1, "route": "paper"}, {"stage": 2}]
    assert with_recipe({}, {"stage": 0})["recipe"] == [{"stage": 0}] and old["recipe"].startswith("keypoint")


def test_m2p_paper_generator_needs_a_paper_checkpoint(tmp_path, monkeypatch):
    """Without a committed paper checkpoint: one line saying so and giving the train command; a keypoint-route
    checkpoint is refused; a paper-route one runs and says its route."""
    import evalkit.models.m2p.paper_generator as paper
    from evalkit.cli import main
    from evalkit.generators import GeneratorContext, make_generator

    monkeypatch.setattr(paper, "PAPER_CHECKPOINT", tmp_path / "tiny-paper.safetensors")
    with pytest.raises(EvalkitError, match="no m2p-paper checkpoint is committed") as err:
        make_generator("m2p-paper")
    assert "--route paper" in str(err.value) and "\n" not in str(err.value)
    torch.manual_seed(0)
    keypoint = save_checkpoint(M2PModel(get_config("micro")), tmp_path / "kp.safetensors", {"stages": []})
    with pytest.raises(EvalkitError, match="'keypoints' route"):
        make_generator("m2p-paper", GeneratorContext(options={"checkpoint": str(keypoint)}))
    ours = save_checkpoint(paper_model(), tmp_path / "paper.safetensors", {"stages": []})
    gen = make_generator("m2p-paper", GeneratorContext(options={"checkpoint": str(ours)}))
    assert gen.name == "m2p-paper" and gen.info()["route"] == "paper" and gen.pipe.cfg.guidance_source == "m2penc"
    assert main(["run-model", "m2p-paper", "--limit", "1", "--no-score", "--out", str(tmp_path / "r")]) == 2


def test_paper_pipeline_gives_m2penc_the_reference_pose(tmp_path):
    """With M2PEnc's own guidance, an M2PEnc that reads the reference pose gets the reference's keypoints in latent
    pixels in every window (the keypoint route's M2PEnc gets them the same way); without them, its training mean."""
    import cv2

    from evalkit.models.m2p.data import reference_latent_keypoints
    from evalkit.models.m2p.pipeline import M2PPipeline

    model = paper_model()
    assert model.m2penc.reads_reference_pose
    pipe = M2PPipeline(model, steps=1)
    assert not pipe.keypoint_guided and pipe.uses_reference_keypoints
    seen = []
    model.m2penc.register_forward_pre_hook(lambda _m, args, kw: seen.append(kw.get("reference")), with_kwargs=True)
    size = PAPER.size
    cv2.imwrite(str(tmp_path / "r.png"), np.full((size, size, 3), 120, np.uint8))
    music = np.random.default_rng(0).normal(size=(8, PAPER.music_dim)).astype(np.float32)
    kp = np.concatenate([np.random.default_rng(1).uniform(4, size - 4, (17, 2)), np.ones((17, 1))], -1)
    pipe.generate(None, tmp_path / "r.png", 8, PAPER.fps, music=music, reference_keypoints=kp)
    assert pipe.last_retarget == "m2penc reads reference" and seen
    expect = torch.as_tensor(reference_latent_keypoints(kp, (size, size), PAPER.latent_size))[None]
    assert all(torch.equal(r, expect) for r in seen)
    seen.clear()
    pipe.generate(None, tmp_path / "r.png", 8, PAPER.fps, music=music)
    assert pipe.last_retarget == "no reference keypoints" and seen and all(r is None for r in seen)


def test_recipe_names_the_training_data(tmp_path):
    import json
    from types import SimpleNamespace

    from evalkit.models.m2p.train import data_info

    settings = {"seed": 11, "seconds": 6.0, "fps": 10.0, "choreography": "harmony", "train": 2, "maps": ["rgb"]}
    (tmp_path / "sdgpip.json").write_text(json.dumps({"settings": settings}))
    samples = [SimpleNamespace(video=tmp_path / "videos" / f"c{i}.mp4") for i in range(2)]
    cfg = get_config("micro")
    info = data_info(samples, fake_clips(n=2, frames=8), cfg)
    assert info == {"source": str(tmp_path), "clips": 2, "frames": 16, "fps": cfg.fps, "size": cfg.size,
                    "sdgpip": {"seed": 11, "seconds": 6.0, "fps": 10.0, "choreography": "harmony"}}
    other = [SimpleNamespace(video=tmp_path / "elsewhere" / "videos" / "x.mp4")]
    assert "sdgpip" not in data_info(other, fake_clips(n=1, frames=8), cfg)  # no generation settings there
