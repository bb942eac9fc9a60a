"""The whole posedit model (keypoint VAE + PoseDiT) and its single-file safetensors checkpoint.

State-dict prefixes: ``vae.`` (PoseVAE: AutoencoderKL + latent_scale), ``dit.`` (PoseDiT + music statistics).
The checkpoint's metadata holds the format tag, the config (JSON) and a free-form ``meta`` record (stages
done, steps, losses), so a checkpoint rebuilds its own model.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from evalkit.errors import EvalkitError

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
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point() and value.numel() > 1:  # scalars stay fp32
            value = value.to(dtype)
        tensors[key] = value.contiguous()
    metadata = {"format": FORMAT, "config": model.cfg.to_json(), "meta": json.dumps(meta or {})}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, device="cpu", dtype: torch.dtype = torch.float32) -> tuple[PoseDiTModel, dict]:
    """Build the model from the checkpoint's config and load every tensor (strict: names and shapes)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise EvalkitError("posedit checkpoint not found", path=path,
                           hint="train one (models/posedit/train_gpu.sh or `evalkit train posedit`)")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises several error types for corrupt files
        raise EvalkitError(f"cannot read safetensors ({type(err).__name__})", path=path) from None
    if metadata.get("format") != FORMAT:
        raise EvalkitError(f"not a posedit checkpoint (format {metadata.get('format')!r})", path=path)
    model = PoseDiTModel(PoseDiTConfig.from_json(metadata["config"]))
    state = model.state_dict()
    missing, extra = sorted(set(state) - set(tensors)), sorted(set(tensors) - set(state))
    if missing or extra:
        raise EvalkitError(f"checkpoint does not match the model: {len(missing)} missing (e.g. {missing[:2]}), "
                           f"{len(extra)} unexpected (e.g. {extra[:2]})", path=path)
    for key, value in tensors.items():
        if state[key].shape != value.shape:
            raise EvalkitError(f"shape of {key}: checkpoint {tuple(value.shape)} vs model {tuple(state[key].shape)}",
                               path=path)
    model.load_state_dict({k: v.to(state[k].dtype) for k, v in tensors.items()}, strict=True)
    return model.to(device=device, dtype=dtype), json.loads(metadata.get("meta", "{}"))
