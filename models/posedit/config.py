"""Configurations of posedit: ``tiny`` (trained on a GPU in minutes, the committed checkpoint) and ``micro``
(toy widths for CPU tests). A config is a frozen dataclass stored as JSON in every checkpoint's metadata, so a
checkpoint rebuilds its own model."""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, replace

from evalkit.errors import EvalkitError


@dataclass(frozen=True)
class PoseDiTConfig:
    name: str
    # pose canvas and codec ------------------------------------------------------------------------------
    image_size: int = 64  # side of the 17-channel keypoint image
    sigma: float = 1.5  # Gaussian splat σ in image pixels
    canvas_torsos: float = 5.0  # canvas side in reference torso lengths, centred on the reference mid-hip
    # VAE (diffusers AutoencoderKL kwargs, 17 channels in and out) ---------------------------------------
    vae: dict = field(default_factory=dict)
    fg_weight: float = 50.0  # weighted MSE: pixel weight 1 + fg_weight·target (splats are ~0.3 % of pixels)
    kl_weight: float = 1e-6
    # DiT ----------------------------------------------------------------------------------------------------
    fps: float = 15.0  # model frame rate (music features and poses)
    window: int = 48  # frames per generated segment (3.2 s at 15 fps)
    overlap: int = 12  # frames a segment shares with the previous one (conditioned on it, cross-faded)
    patch: int = 2  # latent patch side: (latent/patch)² tokens per frame
    width: int = 256
    depth: int = 8
    heads: int = 8
    music_dim: int = 35  # edge35 front-end (evalkit.models.m2p.music)
    music_frontend: str = "edge35"
    music_dropout: float = 0.1  # classifier-free guidance: training drops the music tokens this often
    context_prob: float = 0.5  # training windows that get a known prefix (1..overlap frames) as context
    steps: int = 20  # Euler steps of the flow ODE at inference
    cfg_scale: float = 2.0  # music guidance at inference
    # training recipes: "vae" / "dit" -> steps, batch, lr
    recipes: dict = field(default_factory=dict)

    @property
    def latent_channels(self) -> int:
        return int(self.vae["latent_channels"])

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_size // self.patch) ** 2

    def recipe(self, stage: str) -> dict:
        if stage not in self.recipes:
            raise EvalkitError(f"posedit config '{self.name}' has no recipe for stage '{stage}'",
                               hint=f"stages: {', '.join(self.recipes)}")
        return dict(self.recipes[stage])

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PoseDiTConfig":
        data = json.loads(text)
        for key in ("block_out_channels", "down_block_types", "up_block_types"):
            if key in data.get("vae", {}):
                data["vae"][key] = tuple(data["vae"][key])
        return cls(**data)

    def check(self) -> "PoseDiTConfig":
        problems = []
        if self.latent_size * 2 ** (len(self.vae["block_out_channels"]) - 1) != self.image_size:
            problems.append(f"image_size {self.image_size} is not a multiple of the VAE's downscale")
        if self.latent_size % self.patch:
            problems.append(f"latent size {self.latent_size} is not a multiple of patch {self.patch}")
        if not 0 < self.overlap < self.window:
            problems.append(f"overlap {self.overlap} must be in (0, window {self.window})")
        if self.width % self.heads:
            problems.append(f"width {self.width} is not a multiple of heads {self.heads}")
        if problems:
            raise EvalkitError(f"bad posedit config '{self.name}': " + "; ".join(problems))
        return self


def _vae(blocks, sample_size, norm_groups=32) -> dict:
    n = len(blocks)
    return dict(in_channels=17, out_channels=17, latent_channels=4, block_out_channels=tuple(blocks),
                layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * n,
                up_block_types=("UpDecoderBlock2D",) * n, norm_num_groups=norm_groups, sample_size=sample_size)


TINY = PoseDiTConfig(
    name="tiny",
    vae=_vae((32, 64, 128, 128), 64),  # 64² → 8² × 4
    recipes={"vae": dict(steps=4000, batch=256, lr=1e-3), "dit": dict(steps=8000, batch=32, lr=3e-4)},
)

MICRO = replace(
    TINY, name="micro", image_size=32, sigma=1.0, vae=_vae((16, 16, 16), 32, norm_groups=8),  # 32² → 8² × 4
    window=8, overlap=3, width=32, depth=2, heads=2, steps=3, cfg_scale=1.5,
    recipes={"vae": dict(steps=2, batch=8, lr=1e-3), "dit": dict(steps=2, batch=2, lr=1e-3)},
)

CONFIGS = {"tiny": TINY, "micro": MICRO}


def get_config(name: str) -> PoseDiTConfig:
    if name not in CONFIGS:
        raise EvalkitError(f"unknown posedit config '{name}'", hint=f"choose from: {', '.join(CONFIGS)}")
    return copy.deepcopy(CONFIGS[name]).check()
