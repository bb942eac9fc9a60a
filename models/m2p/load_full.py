"""The ``full`` model from pretrained weights in a user directory (offline, CHAMP's ``pretrained_models`` tree):

    <root>/stable-diffusion-v1-5/unet/{config.json, diffusion_pytorch_model.safetensors|.bin}
    <root>/sd-vae-ft-mse/{config.json, diffusion_pytorch_model.safetensors|.bin}
    <root>/image_encoder/{config.json, model.safetensors|pytorch_model.bin}
    <root>/champ/{denoising_unet.pth, reference_unet.pth, motion_module.pth, guidance_encoder_<type>.pth}
    <root>/mm_sd_v15_v2.ckpt                  (only for source="sd15": AnimateDiff motion init)

Configs are read with ``local_files_only`` (``HF_HUB_OFFLINE=1``); every state dict is loaded by us and
checked key by key: the counts of missing and unexpected keys are logged for every part, and any key outside
a short documented allow-list (fixed sinusoid buffers; CHAMP's never-run guidance attentions; an old
``position_ids`` buffer) fails the load — CHAMP's own ``strict=False`` loads can be silently partial.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from evalkit.errors import EvalkitError

from .config import FULL, M2PConfig
from .model import M2PModel, read_checkpoint
from .unet import build_denoiser, build_motion_adapter

log = logging.getLogger("evalkit.m2p")


@dataclass(frozen=True)
class WeightPaths:
    root: Path

    @property
    def sd15_unet(self) -> Path:
        return self.root / "stable-diffusion-v1-5" / "unet"

    @property
    def vae(self) -> Path:
        return self.root / "sd-vae-ft-mse"

    @property
    def image_encoder(self) -> Path:
        return self.root / "image_encoder"

    @property
    def champ(self) -> Path:
        return self.root / "champ"

    @property
    def animatediff(self) -> Path:
        return self.root / "mm_sd_v15_v2.ckpt"

    def guidance_file(self, kind: str) -> Path:
        return self.champ / f"guidance_encoder_{kind}.pth"

    def required(self, source: str, guidance_types) -> list[Path]:
        files = [self.sd15_unet / "config.json", self.vae / "config.json", self.image_encoder / "config.json"]
        if source == "champ":
            files += [self.champ / n for n in ("denoising_unet.pth", "reference_unet.pth", "motion_module.pth")]
            files += [self.guidance_file(k) for k in guidance_types]
        return files

    def check(self, source: str, guidance_types) -> None:
        """Every missing file at once, not only the first."""
        missing = [str(p.relative_to(self.root)) for p in self.required(source, guidance_types) if not p.is_file()]
        for folder, names in ((self.vae, "diffusion_pytorch_model"), (self.image_encoder, None)):
            if not _weights_file(folder, names):
                missing.append(f"{folder.relative_to(self.root)}/<weights>")
        if source == "sd15" and not _weights_file(self.sd15_unet, "diffusion_pytorch_model"):
            missing.append("stable-diffusion-v1-5/unet/<weights>")
        if missing:
            raise EvalkitError(f"{len(missing)} weight file(s) missing: {', '.join(missing)}", path=self.root,
                               hint="lay the weights out as in models/m2p/README.md (CHAMP's pretrained_models tree)")


def _weights_file(folder: Path, stem: str | None) -> Path | None:
    stems = [stem] if stem else ["model", "pytorch_model"]
    for s in stems:
        for ext in (".safetensors", ".bin"):
            if (folder / f"{s}{ext}").is_file():
                return folder / f"{s}{ext}"
    return None


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or from a torch pickle (.bin/.pth/.ckpt) loaded with weights_only."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise EvalkitError(f"cannot read weights ({type(err).__name__}: {str(err).splitlines()[0][:120]})",
                           path=path, hint="the file must be a plain tensor state dict") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EvalkitError("not a state dict of tensors", path=path)
    if state and all(k.startswith("module.") for k in state):  # saved from a DDP wrapper
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def check_load(module: torch.nn.Module, state: dict, name: str, source, allow_missing=(),
               allow_unexpected=()) -> dict:
    """Load ``state`` into ``module``; log missing/unexpected counts; fail outside the allow-lists
    (regular expressions) or on any shape mismatch."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    ok = lambda key, pats: any(re.search(p, key) for p in pats)  # noqa: E731
    bad_missing = [k for k in missing if not ok(k, allow_missing)]
    bad_unexpected = [k for k in unexpected if not ok(k, allow_unexpected)]
    shapes = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    log.info("%s: %d tensors loaded from %s; %d missing (%d allowed), %d unexpected (%d allowed)", name,
             len(set(own) & set(state)), source, len(missing), len(missing) - len(bad_missing), len(unexpected),
             len(unexpected) - len(bad_unexpected))
    if bad_missing or bad_unexpected or shapes:
        parts = []
        if bad_missing:
            parts.append(f"{len(bad_missing)} missing key(s), e.g. {bad_missing[:3]}")
        if bad_unexpected:
            parts.append(f"{len(bad_unexpected)} unexpected key(s), e.g. {bad_unexpected[:3]}")
        if shapes:
            k = sorted(shapes)[0]
            parts.append(f"{len(shapes)} shape mismatch(es), e.g. {k}: {tuple(state[k].shape)} "
                         f"vs {tuple(own[k].shape)}")
        raise EvalkitError(f"{name}: {'; '.join(parts)}", path=source,
                           hint="the file does not match the expected architecture; check the weights layout")
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return {"file": str(source), "loaded": len(set(own) & set(state)), "missing": len(missing),
            "unexpected": len(unexpected)}


# key conversions ----------------------------------------------------------------------------------------
_AD_RENAMES = ((".temporal_transformer.", "."), (".attention_blocks.0.", ".attn1."),
               (".attention_blocks.1.", ".attn2."), (".norms.0.", ".norm1."), (".norms.1.", ".norm2."),
               (".ff_norm.", ".norm3."))


def convert_animatediff(state: dict) -> dict:
    """AnimateDiff / CHAMP motion-module keys → diffusers MotionAdapter keys (``pos_encoder.pe`` dropped:
    fixed sinusoids the adapter rebuilds)."""
    out = {}
    for key, value in state.items():
        if key.endswith("pos_encoder.pe"):
            continue
        new = key
        for old, rep in _AD_RENAMES:
            new = new.replace(old, rep)
        out[new] = value
    return out


def convert_champ_guidance(state: dict, levels: int) -> tuple[dict, int]:
    """CHAMP GuidanceEncoder keys → ours: the attention CHAMP runs (``attentions[-1]``) becomes
    ``attention``; the attentions it builds but never runs are dropped and counted."""
    used = f"attentions.{2 * (levels - 1) - 1}."
    out, dropped = {}, 0
    for key, value in state.items():
        if key.startswith(used):
            out["attention." + key[len(used):]] = value
        elif key.startswith("attentions.") or key.startswith("guidance_attention."):
            dropped += 1
        else:
            out[key] = value
    return out, dropped


# loader -------------------------------------------------------------------------------------------------
def _diffusers_part(cls, folder: Path):
    config = cls.load_config(str(folder), local_files_only=True)
    return cls.from_config(config), dict(config)


def load_full(root: str | Path, cfg: M2PConfig = FULL, source: str = "champ",
              m2p_checkpoint: str | Path | None = None) -> tuple[M2PModel, dict]:
    """Build the full model from ``root``; ``source`` "champ" (CHAMP-trained U-Nets, motion module and
    guidance encoders) or "sd15" (SD1.5 U-Nets, AnimateDiff motion if present, fresh guidance encoders).
    Returns the model and a per-part load report."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from .clip import ImageEncoder
    from .guidance import GuidanceEncoders

    if source not in ("champ", "sd15"):
        raise EvalkitError(f"unknown weight source '{source}'", hint="choose champ or sd15")
    os.environ["HF_HUB_OFFLINE"] = "1"
    paths = WeightPaths(Path(root))
    if not paths.root.is_dir():
        raise EvalkitError("weights directory not found", path=paths.root)
    paths.check(source, cfg.guidance_types)
    report: dict = {"source": source}

    vae, vae_conf = _diffusers_part(AutoencoderKL, paths.vae)
    vae_file = _weights_file(paths.vae, "diffusion_pytorch_model")
    report["vae"] = check_load(vae, read_state(vae_file), "vae", vae_file)

    enc_conf = _json(paths.image_encoder / "config.json")
    enc_conf = enc_conf.get("vision_config", enc_conf)
    enc_cfg = {k: enc_conf[k] for k in ImageEncoder.CONFIG_KEYS if k in enc_conf}
    image_encoder = ImageEncoder({**cfg.image_encoder, **enc_cfg})
    enc_file = _weights_file(paths.image_encoder, None)
    report["image_encoder"] = check_load(image_encoder, read_state(enc_file), "image_encoder", enc_file,
                                         allow_unexpected=(r"position_ids$",))

    reference_unet, unet_conf = _diffusers_part(UNet2DConditionModel, paths.sd15_unet)
    den2d, _ = _diffusers_part(UNet2DConditionModel, paths.sd15_unet)
    adapter = build_motion_adapter(cfg.motion)
    pe = (r"pos_embed\.pe$",)
    if source == "champ":
        for module, name in ((reference_unet, "reference_unet"), (den2d, "denoising_unet")):
            f = paths.champ / f"{name}.pth"
            report[name] = check_load(module, read_state(f), name, f)
        f = paths.champ / "motion_module.pth"
        report["motion_module"] = check_load(adapter, convert_animatediff(read_state(f)), "motion_module", f,
                                             allow_missing=pe)
    else:
        f = _weights_file(paths.sd15_unet, "diffusion_pytorch_model")
        sd = read_state(f)
        report["reference_unet"] = check_load(reference_unet, sd, "reference_unet", f)
        report["denoising_unet"] = check_load(den2d, sd, "denoising_unet", f)
        if paths.animatediff.is_file():
            report["motion_module"] = check_load(adapter, convert_animatediff(read_state(paths.animatediff)),
                                                 "motion_module", paths.animatediff, allow_missing=pe)
        else:
            log.info("motion_module: %s not found; motion modules start at identity (zero output)", paths.animatediff)
            report["motion_module"] = {"file": None, "initialised": "zero"}
    unet3d = build_denoiser(den2d, adapter)

    cfg = cfg.with_overrides(vae={k: vae_conf[k] for k in cfg.vae if k in vae_conf},
                             unet={k: unet_conf[k] for k in cfg.unet if k in unet_conf},
                             image_encoder=enc_cfg, vae_scaling=float(vae_conf.get("scaling_factor", cfg.vae_scaling)))
    guidance = GuidanceEncoders(cfg.guidance_types, cfg.guid_channels, **cfg.guidance)
    if source == "champ":
        levels = len(cfg.guidance["block_out_channels"])
        for kind, enc in guidance.items():
            f = paths.guidance_file(kind)
            state, dropped = convert_champ_guidance(read_state(f), levels)
            report[f"guidance_{kind}"] = {**check_load(enc, state, f"guidance_{kind}", f),
                                          "unused_champ_attention_tensors": dropped}
    model = M2PModel(cfg, parts={"vae": vae, "image_encoder": image_encoder, "reference_unet": reference_unet,
                                 "unet3d": unet3d, "guidance": guidance})
    if m2p_checkpoint is not None:
        _, _, tensors = read_checkpoint(m2p_checkpoint)
        state = {k[len("m2penc."):]: v for k, v in tensors.items() if k.startswith("m2penc.")}
        report["m2penc"] = check_load(model.m2penc, state, "m2penc", m2p_checkpoint, allow_missing=pe)
    else:
        log.info("m2penc: no checkpoint given; randomly initialised (train stage 1)")
        report["m2penc"] = {"file": None, "initialised": "random"}
    return model, report


def _json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EvalkitError(f"cannot read config ({type(err).__name__})", path=path) from None
