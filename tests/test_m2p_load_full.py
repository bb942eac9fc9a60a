"""The full-config loader on toy-sized random checkpoints written in the real (CHAMP / diffusers / HF) layout."""
import json
import re

import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.models.m2p.config import get_config
from evalkit.models.m2p.load_full import load_full


pytestmark = pytest.mark.usefixtures("one_torch_thread")


CHAMP_TYPES = ("depth", "normal", "semantic_map", "dwpose")
CFG = get_config("micro", guidance_types=CHAMP_TYPES)
USED_ATTENTION = "attentions.3."  # CHAMP runs attentions[-1]: 2·(levels−1)−1 with 3 levels


def to_animatediff(key: str) -> str:
    """diffusers MotionAdapter key → AnimateDiff/CHAMP motion_module.pth key (written independently of the
    loader's converter, from the AnimateDiff naming)."""
    key = re.sub(r"(motion_modules\.\d+\.)", r"\1temporal_transformer.", key)
    for new, old in ((".attn1.", ".attention_blocks.0."), (".attn2.", ".attention_blocks.1."),
                     (".norm1.", ".norms.0."), (".norm2.", ".norms.1."), (".norm3.", ".ff_norm.")):
        key = key.replace(new, old)
    return key


@pytest.fixture()
def root(tmp_path):
    from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
    from safetensors.torch import save_file

    from evalkit.models.m2p.clip import ImageEncoder
    from evalkit.models.m2p.guidance import GuidanceEncoder

    torch.manual_seed(0)
    r = tmp_path / "pretrained_models"
    unet_dir, vae_dir, enc_dir, champ = (r / "stable-diffusion-v1-5" / "unet", r / "sd-vae-ft-mse",
                                         r / "image_encoder", r / "champ")
    for d in (unet_dir, vae_dir, enc_dir, champ):
        d.mkdir(parents=True)
    unet = UNet2DConditionModel(**CFG.unet)
    unet.save_config(unet_dir)
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()},
              unet_dir / "diffusion_pytorch_model.safetensors")
    vae = AutoencoderKL(**CFG.vae)
    vae.save_config(vae_dir)
    save_file(vae.state_dict(), vae_dir / "diffusion_pytorch_model.safetensors")
    enc = ImageEncoder(CFG.image_encoder)
    (enc_dir / "config.json").write_text(json.dumps({"model_type": "clip_vision_model", **CFG.image_encoder}))
    torch.save({**enc.state_dict(), "vision_model.embeddings.position_ids": torch.arange(17)[None]},
               enc_dir / "pytorch_model.bin")
    torch.save(UNet2DConditionModel(**CFG.unet).state_dict(), champ / "reference_unet.pth")
    torch.save(UNet2DConditionModel(**CFG.unet).state_dict(), champ / "denoising_unet.pth")
    adapter = MotionAdapter(**CFG.motion).state_dict()
    motion = {to_animatediff(k): v for k, v in adapter.items() if not k.endswith("pos_embed.pe")}
    for k in [k for k in adapter if k.endswith("pos_embed.pe")]:
        motion[to_animatediff(k).replace("pos_embed.pe", "attention_blocks.0.pos_encoder.pe")] = adapter[k]
    torch.save(motion, champ / "motion_module.pth")
    for kind in CHAMP_TYPES:
        ge = GuidanceEncoder(CFG.guid_channels, 3, **CFG.guidance).state_dict()
        state = {(USED_ATTENTION + k[len("attention."):] if k.startswith("attention.") else k): v
                 for k, v in ge.items()}
        state["attentions.0.norm.weight"] = torch.ones(16)  # built but never run by CHAMP
        state["guidance_attention.proj_in.weight"] = torch.zeros(32, 32, 1, 1)
        torch.save(state, champ / f"guidance_encoder_{kind}.pth")
    return r


def test_loads_every_part_in_the_champ_layout(root):
    model, report = load_full(root, CFG)
    sd = model.state_dict()
    motion = torch.load(root / "champ" / "motion_module.pth", weights_only=True)
    ad_key = "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight"
    assert torch.equal(sd["denoiser.unet.down_blocks.0.motion_modules.0.transformer_blocks.0.attn1.to_q.weight"],
                       motion[ad_key])
    ff_norm = ad_key.replace("attention_blocks.0.to_q", "ff_norm")
    assert torch.equal(sd["denoiser.unet.down_blocks.0.motion_modules.0.transformer_blocks.0.norm3.weight"],
                       motion[ff_norm])
    den = torch.load(root / "champ" / "denoising_unet.pth", weights_only=True)
    ref = torch.load(root / "champ" / "reference_unet.pth", weights_only=True)
    assert torch.equal(sd["denoiser.unet.conv_in.weight"], den["conv_in.weight"])
    assert torch.equal(sd["reference_unet.up_blocks.1.attentions.0.proj_in.weight"],
                       ref["up_blocks.1.attentions.0.proj_in.weight"])
    ge = torch.load(root / "champ" / "guidance_encoder_dwpose.pth", weights_only=True)
    assert torch.equal(sd["guidance.dwpose.attention.transformer_blocks.0.attn1.to_q.weight"],
                       ge[USED_ATTENTION + "transformer_blocks.0.attn1.to_q.weight"])
    # counts are reported for every part; only the allow-listed keys are missing / unexpected
    n_pe = sum(1 for k in model.denoiser.unet.state_dict() if "motion_modules" in k and k.endswith("pos_embed.pe"))
    assert report["motion_module"]["missing"] == n_pe > 0
    assert report["image_encoder"]["unexpected"] == 1
    assert report["guidance_dwpose"]["unused_champ_attention_tensors"] == 2
    assert report["denoising_unet"]["missing"] == report["denoising_unet"]["unexpected"] == 0
    assert report["m2penc"]["initialised"] == "random"
    assert model.cfg.guidance_types == CHAMP_TYPES and model.pairs == 7


def test_sd15_source_uses_the_sd_unet(root):
    model, report = load_full(root, CFG, source="sd15")
    assert report["motion_module"]["initialised"] == "zero" and "guidance_depth" not in report
    from safetensors.torch import load_file

    sd15 = load_file(root / "stable-diffusion-v1-5" / "unet" / "diffusion_pytorch_model.safetensors")
    assert torch.equal(model.reference_unet.state_dict()["conv_out.weight"], sd15["conv_out.weight"])


@pytest.mark.parametrize("edit, message", [("extra", "unexpected key"), ("missing", "missing key"),
                                           ("shape", "shape mismatch")])
def test_unexpected_or_missing_keys_fail_loudly(root, edit, message):
    path = root / "champ" / "denoising_unet.pth"
    state = torch.load(path, weights_only=True)
    if edit == "extra":
        state["down_blocks.0.extra_adapter.weight"] = torch.zeros(3)
    elif edit == "missing":
        state.pop("mid_block.attentions.0.proj_out.weight")
    else:
        state["conv_in.weight"] = torch.zeros(1, 1, 3, 3)
    torch.save(state, path)
    with pytest.raises(EvalkitError, match=f"denoising_unet: 1 {message}"):
        load_full(root, CFG)


def test_unknown_guidance_key_fails(root):
    path = root / "champ" / "guidance_encoder_depth.pth"
    state = torch.load(path, weights_only=True)
    state["conv_mid.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(EvalkitError, match="guidance_depth: 1 unexpected"):
        load_full(root, CFG)


def test_missing_files_are_all_listed(root):
    (root / "champ" / "motion_module.pth").unlink()
    (root / "champ" / "guidance_encoder_normal.pth").unlink()
    with pytest.raises(EvalkitError, match=r"2 weight file\(s\) missing: .*motion_module.pth.*guidance_encoder_normal"):
        load_full(root, CFG)
