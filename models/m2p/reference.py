"""Reference path: the reference U-Net's self-attention features, read by the denoiser ("reference attention").

The reference U-Net (a ``UNet2DConditionModel``) runs once per sample at t = 0 on the VAE latent of the
reference image, with the image-encoder embedding as cross-attention context. Every *spatial* self-attention
(``…attentions.N.transformer_blocks.M.attn1``) stores its input (the ``norm1`` output) in a bank, by module
name. The denoiser's spatial self-attention with the same name then attends to ``[own tokens ; bank tokens]``
(the bank repeated over the frames), which carries the reference appearance into every frame.

Writers and readers are paired by module name, never by module order or width; the motion modules
(diffusers builds them from the same ``BasicTransformerBlock``) are excluded by name. Both are diffusers
attention processors, so they work with ``set_attn_processor`` and compile like the built-in ones.

Classifier-free guidance / condition dropout: ``bank.keep`` (one bool per sample) masks the bank tokens
of the samples that are unconditional, so those samples fall back to plain self-attention.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from evalkit.errors import EvalkitError


class ReferenceBank:
    def __init__(self):
        self.features: dict[str, torch.Tensor] = {}
        self.mode = "off"  # "write" while the reference U-Net runs, "read" while the denoiser runs
        self.keep: torch.Tensor | None = None  # (B,) bool: sample b reads the bank (None: all do)

    def clear(self) -> None:
        self.features = {}
        self.mode = "off"
        self.keep = None


def _attend(q, k, v, heads: int, mask, backend: str, max_score_bytes: int = 1 << 30):
    b, lq, d = q.shape
    split = lambda t: t.view(b, -1, heads, d // heads).transpose(1, 2)  # noqa: E731
    q, k, v = split(q), split(k), split(v)
    if backend == "sdpa":
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    else:  # explicit softmax(QKᵀ/√d)V, the eager baseline; batch-chunked so the score matrix stays ≤ 1 GiB
        per_item = heads * lq * k.shape[2] * q.element_size()
        step = max(1, max_score_bytes // max(per_item, 1))
        outs = []
        for i in range(0, b, step):
            scores = q[i:i + step] @ k[i:i + step].transpose(-1, -2) * (1.0 / math.sqrt(q.shape[-1]))
            if mask is not None:
                scores = scores.masked_fill(~mask[i:i + step], float("-inf"))
            outs.append(scores.softmax(-1) @ v[i:i + step])
        out = torch.cat(outs)
    return out.transpose(1, 2).reshape(b, lq, d)


class RefSelfAttnProcessor:
    """Spatial self-attention that writes (reference U-Net) or reads (denoiser) the reference bank."""

    def __init__(self, bank: ReferenceBank, name: str, role: str, backend: str = "sdpa"):
        if role not in ("write", "read"):
            raise ValueError(role)
        self.bank, self.name, self.role, self.backend = bank, name, role, backend

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args,
                 **kwargs):
        h = hidden_states
        if h.ndim != 3 or attn.group_norm is not None or attn.spatial_norm is not None or attn.residual_connection:
            raise NotImplementedError("reference attention supports plain (B, L, C) self-attention only")
        bank, ctx, mask = self.bank, h, None
        if self.role == "write" and bank.mode == "write":
            bank.features[self.name] = h
        elif self.role == "read" and bank.mode == "read" and self.name in bank.features:
            ref = bank.features[self.name].to(h.dtype)
            if h.shape[0] % ref.shape[0]:
                raise RuntimeError(f"{self.name}: batch {h.shape[0]} is not a multiple of the bank's {ref.shape[0]}")
            frames = h.shape[0] // ref.shape[0]
            if _sampling():
                return self._read_sampling(attn, h, ref, frames)
            ctx = torch.cat([h, ref.repeat_interleave(frames, dim=0)], dim=1)
            if bank.keep is not None:  # no data-dependent branches or indexing here: torch.compile stays one graph
                keep = bank.keep.to(h.device).repeat_interleave(frames).view(-1, 1, 1, 1)
                own = torch.ones(h.shape[0], 1, 1, h.shape[1], dtype=torch.bool, device=h.device)
                mask = torch.cat([own, keep.expand(-1, 1, 1, ref.shape[1])], dim=-1)
        out = _attend(attn.to_q(h), attn.to_k(ctx), attn.to_v(ctx), attn.heads, mask, self.backend)
        return _project_out(attn, out)

    def _read_sampling(self, attn, h, ref, frames: int):
        """The read path without gradients (sampling): the same attention with less work. The bank's keys and
        values are projected once per bank sample, not once per frame; samples that ``bank.keep`` masks (the
        unconditional half of classifier-free guidance) attend to their own tokens only, instead of to
        [own ; bank] with the bank's scores at −inf — the same softmax, without computing the masked half."""
        q, k, v = attn.to_q(h), attn.to_k(h), attn.to_v(h)
        k_ref = attn.to_k(ref).repeat_interleave(frames, dim=0)
        v_ref = attn.to_v(ref).repeat_interleave(frames, dim=0)
        if self.bank.keep is None:
            out = _attend(q, torch.cat([k, k_ref], 1), torch.cat([v, v_ref], 1), attn.heads, None, self.backend)
            return _project_out(attn, out)
        reads = self.bank.keep.to(h.device).repeat_interleave(frames)
        out = torch.empty_like(q)
        own = ~reads
        if own.any():
            out[own] = _attend(q[own], k[own], v[own], attn.heads, None, self.backend)
        if reads.any():
            out[reads] = _attend(q[reads], torch.cat([k[reads], k_ref[reads]], 1),
                                 torch.cat([v[reads], v_ref[reads]], 1), attn.heads, None, self.backend)
        return _project_out(attn, out)


def _sampling() -> bool:
    """Eager inference: no gradients to keep, and not inside torch.compile (whose graph the boolean indexing of
    ``_read_sampling`` would break)."""
    return not torch.is_grad_enabled() and not torch.compiler.is_compiling()


def _project_out(attn, out: torch.Tensor) -> torch.Tensor:
    out = attn.to_out[1](attn.to_out[0](out))
    return out / attn.rescale_output_factor


def is_spatial_self_attention(name: str) -> bool:
    """``…attentions.N.transformer_blocks.M.attn1`` — spatial, not a motion module's (``motion_modules``)."""
    return ".attentions." in f".{name}" and name.endswith(".attn1") and "motion_modules" not in name


def default_processor(backend: str):
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    return AttnProcessor2_0() if backend == "sdpa" else AttnProcessor()


def install(reference_unet, denoiser, bank: ReferenceBank, backend: str = "sdpa") -> int:
    """Put writer processors on the reference U-Net, readers on the denoiser, the plain processor of
    ``backend`` everywhere else. Returns the number of writer/reader pairs."""
    writers = _set(reference_unet, bank, "write", backend)
    readers = _set(denoiser, bank, "read", backend)
    if writers != readers or not writers:
        raise EvalkitError(f"reference attention wiring: {len(writers)} writers vs {len(readers)} readers; "
                           f"unpaired: {sorted(writers ^ readers)[:4]}",
                           hint="the reference and denoising U-Nets must share the same spatial block layout")
    return len(writers)


def _set(unet, bank, role, backend) -> set[str]:
    procs, names = {}, set()
    for key in unet.attn_processors:
        module = key[: -len(".processor")]
        if is_spatial_self_attention(module):
            procs[key] = RefSelfAttnProcessor(bank, module, role, backend)
            names.add(module)
        else:
            procs[key] = default_processor(backend)
    unet.set_attn_processor(procs)
    return names


def write_reference(reference_unet, bank: ReferenceBank, ref_latent: torch.Tensor, context: torch.Tensor) -> None:
    """Run the reference U-Net at t = 0 and keep its self-attention inputs in ``bank``."""
    bank.features = {}
    bank.mode = "write"
    try:
        t = torch.zeros(ref_latent.shape[0], device=ref_latent.device, dtype=torch.long)
        reference_unet(ref_latent, t, encoder_hidden_states=context, return_dict=False)
    finally:
        bank.mode = "off"
