"""CLIP vision encoder with projection, written for this project in the Hugging Face parameter layout.

The full model uses the lambdalabs sd-image-variations ``image_encoder`` (ViT-L/14, 224 px, projection 768);
keeping the Hugging Face key names (``vision_model.encoder.layers.N.self_attn.q_proj.weight`` …) lets its
``pytorch_model.bin`` / ``model.safetensors`` load unchanged without depending on ``transformers``.
Output: ``image_embeds`` (B, projection_dim) = visual_projection(post_layernorm(CLS token)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _act(name: str):
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu
    raise ValueError(f"unsupported CLIP activation {name}")


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x):
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        out = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)))
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class _MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.act = _act(act)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _Layer(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5)
        self.self_attn = _Attention(d, cfg["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.mlp = _MLP(d, cfg["intermediate_size"], cfg.get("hidden_act", "quick_gelu"))
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, p, s = cfg["hidden_size"], cfg["patch_size"], cfg["image_size"]
        self.class_embedding = nn.Parameter(torch.randn(d) * 0.02)
        self.patch_embedding = nn.Conv2d(cfg.get("num_channels", 3), d, kernel_size=p, stride=p, bias=False)
        self.position_embedding = nn.Embedding((s // p) ** 2 + 1, d)

    def forward(self, pixels):
        patches = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding.weight.to(patches.dtype)


class _VisionModel(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        eps = cfg.get("layer_norm_eps", 1e-5)
        self.embeddings = _Embeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(cfg["hidden_size"], eps=eps)  # (sic) the Hugging Face name
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.post_layernorm = nn.LayerNorm(cfg["hidden_size"], eps=eps)

    def forward(self, pixels):
        x = self.pre_layrnorm(self.embeddings(pixels))
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x[:, 0])


class ImageEncoder(nn.Module):
    """CLIPVisionModelWithProjection equivalent. ``forward(images in [-1, 1], (B,3,H,W)) -> (B, proj)``."""

    # config.json fields of a Hugging Face CLIP vision config that this class reads
    CONFIG_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size",
                   "patch_size", "projection_dim", "hidden_act", "layer_norm_eps", "num_channels")

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = dict(cfg)
        self.vision_model = _VisionModel(cfg)
        self.visual_projection = nn.Linear(cfg["hidden_size"], cfg["projection_dim"], bias=False)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images → CLIP input: shortest side to image_size (bicubic, antialiased), centre crop,
        CLIP mean/std. (CLIPImageProcessor does the same with PIL bicubic; values differ by resampling only.)"""
        size = self.cfg["image_size"]
        x = (images.float() + 1) / 2
        h, w = x.shape[-2:]
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top:top + size, left:left + size].clamp(0, 1)
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.preprocess(images).to(self.visual_projection.weight.dtype)
        return self.visual_projection(self.vision_model(pixels))
