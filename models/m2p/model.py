"""The whole m2p model in one module, and its single-file safetensors checkpoint.

Parts (attribute = state-dict prefix): ``vae`` (AutoencoderKL), ``image_encoder`` (CLIP vision + projection),
``reference_unet`` (UNet2DConditionModel), ``denoiser`` (GuidedDenoiser around UNetMotionModel),
``guidance`` (one GuidanceEncoder per map type), ``m2penc`` (M2PEnc), ``latent_scale`` (VAE latent scale).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import checkpoint_file
from .clip import ImageEncoder
from .config import M2PConfig
from .guidance import GuidanceEncoders
from .m2penc import M2PEnc
from .reference import ReferenceBank, install, write_reference
from .unet import GuidedDenoiser, build_denoiser, build_motion_adapter, build_unet2d

FORMAT = "evalkit-m2p/1"


class M2PModel(nn.Module):
    def __init__(self, cfg: M2PConfig, parts: dict | None = None, backend: str = "sdpa"):
        """``parts`` may supply pre-built (e.g. pretrained) modules by attribute name."""
        super().__init__()
        from diffusers import AutoencoderKL

        parts = parts or {}
        enc_kw = {k: v for k, v in cfg.m2penc.items() if k != "heat_channels"}
        builders = {
            "vae": lambda: AutoencoderKL(**cfg.vae),
            "image_encoder": lambda: ImageEncoder(cfg.image_encoder),
            "reference_unet": lambda: build_unet2d(cfg.unet),
            "unet3d": lambda: build_denoiser(build_unet2d(cfg.unet), build_motion_adapter(cfg.motion)),
            "guidance": lambda: GuidanceEncoders(cfg.guidance_types, cfg.guid_channels, **cfg.guidance),
            "m2penc": lambda: M2PEnc(cfg.music_dim, cfg.latent_size, cfg.guid_channels, cfg.heat_channels, **enc_kw),
        }
        built = {k: parts[k] if parts.get(k) is not None else make() for k, make in builders.items()}
        self.cfg = cfg
        self.vae = built["vae"]
        self.image_encoder = built["image_encoder"]
        self.reference_unet = built["reference_unet"]
        self.denoiser = GuidedDenoiser(built["unet3d"])
        self.guidance = built["guidance"]
        self.m2penc = built["m2penc"]
        self.register_buffer("latent_scale", torch.tensor(float(cfg.vae_scaling)))
        self.bank = ReferenceBank()
        self.backend = backend
        self.pairs = install(self.reference_unet, self.denoiser.unet, self.bank, backend)

    def set_attention_backend(self, backend: str) -> None:
        self.backend = backend
        install(self.reference_unet, self.denoiser.unet, self.bank, backend)

    # VAE --------------------------------------------------------------------------------------------------
    def encode(self, images: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        """images (N, 3, H, W) in [-1, 1] → scaled latents (N, 4, h, w)."""
        dist = self.vae.encode(images.to(self.vae.dtype)).latent_dist
        z = dist.sample(generator) if sample else dist.mean
        return z * self.latent_scale.to(z.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents.to(self.vae.dtype) / self.latent_scale.to(self.vae.dtype)
        return self.vae.decode(z).sample

    # conditioning -----------------------------------------------------------------------------------------
    def reference(self, ref_images: torch.Tensor, keep: torch.Tensor | None = None,
                  sample: bool = False) -> torch.Tensor:
        """Encode the reference images (B, 3, H, W) in [-1, 1]: fills the bank, returns the cross-attention
        context (B, 1, D) (zeros where ``keep`` is False: the unconditional samples)."""
        context = self.image_encoder(ref_images).unsqueeze(1)
        if keep is not None:
            context = context * keep.view(-1, 1, 1).to(context.dtype)
        ref_latent = self.encode(ref_images, sample=sample)
        write_reference(self.reference_unet, self.bank, ref_latent, context)
        self.bank.keep = None if keep is None or bool(keep.all()) else keep  # mask only when some drop out
        return context

    def denoise(self, z_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                guidance: torch.Tensor | None) -> torch.Tensor:
        """v-prediction for z_t (B, 4, F, h, w); reads the bank filled by :meth:`reference`."""
        self.bank.mode = "read"
        try:
            return self.denoiser(z_t, t, context, guidance)
        finally:
            self.bank.mode = "off"


# checkpoint -----------------------------------------------------------------------------------------------
def save_checkpoint(model: M2PModel, path: str | Path, meta: dict | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """All weights in one safetensors file; the config and ``meta`` (stages done, step…) in its metadata."""
    tensors = {}
    for key, value in model.state_dict().items():
        if key.endswith("pos_embed.pe"):  # fixed sinusoids, rebuilt by the constructor
            continue
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value
    return checkpoint_file.write(path, tensors, FORMAT, model.cfg.to_json(), meta)


def read_checkpoint(path: str | Path, tensors: bool = True) -> tuple[M2PConfig, dict, dict[str, torch.Tensor]]:
    """(config, meta, tensors) of an m2p checkpoint; ``tensors=False`` reads only the header (tensors {})."""
    config, meta, weights = checkpoint_file.read(path, FORMAT, "m2p", tensors=tensors,
                                                 hint="train one with `evalkit train m2p`, or pass --checkpoint")
    return M2PConfig.from_json(config), meta, weights


def checkpoint_config(path: str | Path) -> M2PConfig:
    """The config a checkpoint was built and trained with (its route included), without loading the weights."""
    return read_checkpoint(path, tensors=False)[0]


def load_checkpoint(path: str | Path, device="cpu", dtype: torch.dtype = torch.float32,
                    backend: str = "sdpa") -> tuple[M2PModel, dict]:
    """Build the model from the checkpoint's own config and load every weight (strict)."""
    cfg, meta, tensors = read_checkpoint(path)
    model = M2PModel(cfg, backend=backend)
    load_state(model, tensors, path)
    return model.to(device=device, dtype=dtype), meta


def load_state(model: M2PModel, tensors: dict[str, torch.Tensor], source) -> None:
    state = model.state_dict()
    checkpoint_file.check_match(state, tensors, source, [k for k in state if not k.endswith("pos_embed.pe")])
    model.load_state_dict({**state, **{k: v.to(state[k].dtype) for k, v in tensors.items()}}, strict=True)
