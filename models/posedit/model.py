"""The whole posedit model (keypoint VAE + PoseDiT) and its single-file safetensors checkpoint.

State-dict prefixes: ``vae.`` (PoseVAE: AutoencoderKL + latent_scale), ``dit.`` (PoseDiT + music statistics).
The checkpoint's metadata holds the format tag, the config (JSON) and a free-form ``meta`` record (stages
done, steps, losses), so a checkpoint rebuilds its own model.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .. import checkpoint_file
from .config import PoseDiTConfig
from .dit import PoseDiT
from .vae import PoseVAE

FORMAT = "evalkit-posedit/1"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "posedit.safetensors"


class PoseDiTModel(nn.Module):
    def __init__(self, cfg: PoseDiTConfig):
        super().__init__()
        self.cfg = cfg.check()
        self.vae = PoseVAE(cfg.vae)
        self.dit = PoseDiT(cfg)


def save_checkpoint(model: PoseDiTModel, path: str | Path, meta: dict | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point() and value.numel() > 1:  # scalars stay fp32
            value = value.to(dtype)
        tensors[key] = value
    return checkpoint_file.write(path, tensors, FORMAT, model.cfg.to_json(), meta)


def load_checkpoint(path: str | Path, device="cpu", dtype: torch.dtype = torch.float32) -> tuple[PoseDiTModel, dict]:
    """Build the model from the checkpoint's config and load every tensor (strict: names and shapes)."""
    config, meta, tensors = checkpoint_file.read(
        path, FORMAT, "posedit", hint="train one (models/posedit/train_gpu.sh or `evalkit train posedit`)")
    model = PoseDiTModel(PoseDiTConfig.from_json(config))
    state = model.state_dict()
    checkpoint_file.check_match(state, tensors, Path(path))
    model.load_state_dict({k: v.to(state[k].dtype) for k, v in tensors.items()}, strict=True)
    return model.to(device=device, dtype=dtype), meta
