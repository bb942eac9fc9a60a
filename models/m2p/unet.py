"""The denoising 3D U-Net: diffusers ``UNetMotionModel`` (an SD-style 2D U-Net + AnimateDiff ``MotionAdapter``)
with the guidance features added right after ``conv_in``.

``UNetMotionModel`` has no guidance input, and ``down_block_additional_residuals`` would only touch the skip
connections; a forward hook on ``conv_in`` adds the (B, C, F, h, w) guidance, folded to (B·F, …) in the
model's own frame order, to ``conv_in``'s output. The hook keeps the state-dict keys identical to diffusers',
so SD1.5 / CHAMP / AnimateDiff weights load unchanged.

Motion-module output projections start at zero (AnimateDiff's convention): a fresh adapter is the identity,
which is what the image stage (F = 1, motion modules frozen) needs.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import fold, zero_module


def build_unet2d(unet_kwargs: dict):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**unet_kwargs)


def build_motion_adapter(motion_kwargs: dict, zero_init: bool = True):
    from diffusers import MotionAdapter

    adapter = MotionAdapter(**motion_kwargs)
    if zero_init:
        for name, module in adapter.named_modules():
            if name.endswith("proj_out"):
                zero_module(module)
    return adapter


def build_denoiser(unet2d, adapter):
    from diffusers import UNetMotionModel
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()  # from_unet2d warns about a dtype cast it does not need here
    try:
        return UNetMotionModel.from_unet2d(unet2d, adapter)
    finally:
        logging.set_verbosity(level)


def motion_parameters(unet) -> list[nn.Parameter]:
    return [p for n, p in unet.named_parameters() if "motion_modules" in n]


def spatial_parameters(unet) -> list[nn.Parameter]:
    return [p for n, p in unet.named_parameters() if "motion_modules" not in n]


class GuidedDenoiser(nn.Module):
    """``forward(z_t (B,4,F,h,w), t, context (B,L,D), guidance (B,C,F,h,w)) -> model output (B,4,F,h,w)``."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet
        self._guidance: torch.Tensor | None = None
        unet.conv_in.register_forward_hook(self._add_guidance)

    def _add_guidance(self, module, inputs, output):
        if self._guidance is None:
            return output
        if self._guidance.shape != output.shape:
            raise RuntimeError(f"guidance {tuple(self._guidance.shape)} does not match conv_in output "
                               f"{tuple(output.shape)}")
        return output + self._guidance.to(output.dtype)

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                guidance: torch.Tensor | None) -> torch.Tensor:
        frames = z_t.shape[2]
        self._guidance = None if guidance is None else fold(guidance)
        try:
            # diffusers folds the sample to (B·F) but not the context: repeat it per frame, same order
            ctx = context.repeat_interleave(frames, dim=0)
            return self.unet(z_t, t, encoder_hidden_states=ctx, return_dict=False)[0]
        finally:
            self._guidance = None
