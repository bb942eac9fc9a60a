"""The two configurations of the m2p model: ``full`` (SD1.5 / CHAMP sizes) and ``tiny`` (trained here).

Both build the same classes; only sizes differ. Library-facing parts are kwargs dicts passed straight to
diffusers (``AutoencoderKL``, ``UNet2DConditionModel``, ``MotionAdapter``) or to our CLIP vision encoder
(Hugging Face field names), so a config is also a record of what was built.
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field, replace

from evalkit.errors import EvalkitError


ROUTES = ("keypoints", "paper")


@dataclass(frozen=True)
class StageRecipe:
    steps: int
    batch: int  # frames (stages 0, 2) or clips (stages 1, 3)
    lr: float
    frames: int = 1  # frames per clip


@dataclass(frozen=True)
class M2PConfig:
    name: str
    size: int  # square frame size the model works at (pixels)
    fps: float  # model frame rate; music features and segments are at this rate
    vae: dict
    vae_scaling: float  # latent scale (SD: 0.18215; tiny: 1/std of its latents, set after stage 0)
    image_encoder: dict  # CLIP vision config, Hugging Face field names
    unet: dict  # UNet2DConditionModel kwargs, shared by the reference and the denoising U-Net
    motion: dict  # MotionAdapter kwargs
    guidance_types: tuple[str, ...]
    guidance: dict  # GuidanceEncoder kwargs (block_out_channels, attention_heads)
    m2penc: dict  # M2PEnc kwargs (channels, layers, heads, heat_channels, max_frames)
    music_frontend: str = "edge35"
    music_dim: int = 35
    music_dir: str | None = None  # jukebox: folder of precomputed <music stem>.npy features
    heatmap_sigma: float = 1.0  # latent pixels
    segment_seconds: float = 5.0
    window: int = 24  # frames per denoising window (motion-module context)
    overlap: int = 8  # frames shared by neighbouring windows (predictions averaged)
    carry: int = 4  # frames of segment k re-used as the known start of segment k+1
    window_batch: int = 8  # windows denoised in one forward pass (memory vs speed)
    steps: int = 20  # DDIM steps at inference
    cfg_scale: float = 2.5
    init_strength: float = 1.0  # < 1: sampling starts from the reference latent noised to this level (SDEdit)
    guidance_source: str = "m2penc"  # denoiser guidance at inference: M2PEnc's features, or "keypoints" (drawn)
    # what the denoiser learns from in stage 2: the true maps through the guidance encoders ("keypoints": at
    # inference the skeleton drawn from M2PEnc's keypoints, or M2PEnc's features with guidance_source="m2penc"),
    # or the frozen M2PEnc's guidance features ("paper": seed paper 1's route; stage 3 and inference use them too)
    route: str = "keypoints"
    guidance_dropout: float = 0.0  # stages 2/3: share of samples whose non-skeleton maps are zeroed (keypoints)
    keypoint_anchor: int = 24  # keypoints mode: frames of the moving average that places the joints (readout)
    uncond_ratio: float = 0.1  # training dropout of the reference (CLIP + reference U-Net) condition
    snr_gamma: float = 5.0
    noise_offset: float = 0.05
    vae_loss: str = "mse"  # stage 0: "mse" (+ KL) or "sd" (L1 + LPIPS-VGG + KL, SD's autoencoder without the GAN)
    heat_weight: float = 10.0  # λ in MSE(guid) + λ·MSE(heat): sparse maps, predicting zeros is already 0.012
    motion_weight: float = 0.0  # μ·MSE(kinetic profile) (ours, not the paper's; see m2penc.m2penc_loss)
    keypoint_weight: float = 0.0  # ν·keypoint distance, with m2penc seq_layers > 0 (ours; see m2penc.py)
    train_image_encoder: bool = False
    recipes: dict = field(default_factory=dict)  # stage number (str) -> StageRecipe fields

    # derived sizes ---------------------------------------------------------------------------------------
    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def latent_size(self) -> int:
        return self.size // self.vae_factor

    @property
    def guid_channels(self) -> int:
        return self.unet["block_out_channels"][0]

    @property
    def heat_channels(self) -> int:
        return self.m2penc["heat_channels"]

    @property
    def context_dim(self) -> int:
        return self.image_encoder["projection_dim"]

    @property
    def segment_frames(self) -> int:
        return max(1, int(round(self.segment_seconds * self.fps)))

    def recipe(self, stage: int) -> StageRecipe:
        if str(stage) not in self.recipes:
            raise EvalkitError(f"config '{self.name}' has no recipe for stage {stage}",
                               hint=f"stages: {', '.join(sorted(self.recipes))}")
        return StageRecipe(**self.recipes[str(stage)])

    def for_route(self, route: str) -> "M2PConfig":
        """This config on ``route``: "paper" drives the denoiser with M2PEnc's guidance features in stages 2 and 3
        and at inference (no drawn skeleton, no map dropout); "keypoints" is the config as it is."""
        if route not in ROUTES:
            raise EvalkitError(f"unknown m2p route '{route}'", hint=f"choose from: {', '.join(ROUTES)}")
        if route == "keypoints":
            return replace(self, route=route)
        return replace(self, route=route, guidance_source="m2penc", guidance_dropout=0.0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "M2PConfig":
        data = json.loads(text)
        data["guidance_types"] = tuple(data["guidance_types"])
        return cls(**data)

    def with_overrides(self, **kw) -> "M2PConfig":
        """A copy with fields replaced; dict fields are merged recursively, key by key."""
        merged = {}
        for key, value in kw.items():
            if not hasattr(self, key):
                raise EvalkitError(f"unknown m2p config field '{key}'")
            merged[key] = _merge(getattr(self, key), value)
        return replace(self, **merged)


def _merge(old, new):
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: _merge(old.get(k), v) for k, v in new.items()}}
    return new


def _sd_unet(blocks, cross_dim, heads, layers, sample_size, down, up):
    return dict(sample_size=sample_size, in_channels=4, out_channels=4, block_out_channels=tuple(blocks),
                layers_per_block=layers, down_block_types=tuple(down), up_block_types=tuple(up),
                cross_attention_dim=cross_dim, attention_head_dim=heads, norm_num_groups=32)


FULL = M2PConfig(
    name="full",
    size=512,
    fps=30.0,  # EDGE / Jukebox feature rate: no resampling of the music features
    vae=dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
             layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 4,
             up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, sample_size=512),
    vae_scaling=0.18215,
    image_encoder=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                       image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
                       layer_norm_eps=1e-5, num_channels=3),
    unet=_sd_unet((320, 640, 1280, 1280), 768, 8, 2, 64,
                  ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                  ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
    motion=dict(block_out_channels=(320, 640, 1280, 1280), motion_layers_per_block=2, motion_num_attention_heads=8,
                motion_norm_num_groups=32, motion_max_seq_length=32, use_motion_mid_block=True),
    guidance_types=("depth", "normal", "semantic_map", "dwpose"),
    guidance=dict(block_out_channels=(16, 32, 96, 256), attention_heads=8),
    m2penc=dict(channels=128, layers=2, heads=8, heat_channels=17, max_frames=64),
    music_frontend="edge35",
    music_dim=35,
    heatmap_sigma=2.0,
    window=24,
    overlap=4,
    carry=4,
    window_batch=1,
    steps=20,
    cfg_scale=3.5,
    recipes={"1": dict(steps=20000, batch=4, lr=1e-4, frames=24),
             "2": dict(steps=100000, batch=4, lr=1e-5, frames=1),
             "3": dict(steps=50000, batch=1, lr=1e-5, frames=24)},
)

TINY = M2PConfig(
    name="tiny",
    # 128²: at 64² even the true frames only tie the static reference frame on LPIPS (0.208 vs 0.220; 128²: 0.086)
    size=128,
    fps=10.0,
    vae=dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64, 64), layers_per_block=1,
             down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
             norm_num_groups=32, sample_size=128),
    vae_scaling=1.0,
    vae_loss="sd",  # MSE alone left the 64² VAE blurred: LPIPS 0.357 on the true frames (README)
    image_encoder=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                       image_size=64, patch_size=8, projection_dim=64, hidden_act="quick_gelu",
                       layer_norm_eps=1e-5, num_channels=3),
    unet=_sd_unet((64, 96, 128), 64, 4, 1, 32,
                  ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")),
    motion=dict(block_out_channels=(64, 96, 128), motion_layers_per_block=1, motion_num_attention_heads=4,
                motion_norm_num_groups=32, motion_max_seq_length=64, use_motion_mid_block=True),
    guidance_types=("skeleton", "semantic", "depth"),
    guidance=dict(block_out_channels=(16, 32, 64), attention_heads=4),
    # ours: a frame transformer reads the music first and regresses the keypoints the denoiser is drawn (m2penc.py),
    # as displacements from the reference image's pose, which it reads too (reference_pose)
    m2penc=dict(channels=64, layers=2, heads=4, heat_channels=17, max_frames=64, seq_layers=4, seq_width=128,
                reference_pose=True),
    keypoint_weight=1.0,
    heatmap_sigma=2.0,  # latent pixels of 32²: the same 8 image pixels (at 128²) as σ = 1 on the 64² model's 16²
    motion_weight=2.0,  # ours: without it M2PEnc regresses to a static mean pose (models/m2p/README.md)
    # ours: the denoiser is driven by M2PEnc's keypoints drawn as skeleton maps (keypoint_guidance.py); stage 2
    # drops the other maps for 70 % of its samples so it renders from the skeleton alone
    guidance_source="keypoints",
    guidance_dropout=0.7,
    train_image_encoder=True,
    # sized for one H200 within a 15-minute budget, warm-started from the 64² model (train_gpu.sh); the budget,
    # not the steps, ends a stage
    recipes={"0": dict(steps=4000, batch=128, lr=2e-4, frames=1),
             "1": dict(steps=4000, batch=32, lr=3e-4, frames=24),
             "2": dict(steps=8000, batch=32, lr=2e-4, frames=1),
             "3": dict(steps=4000, batch=8, lr=1e-4, frames=24)},
)

# the tiny classes at toy width: tests and CPU smoke runs only (32² frames, 8² latents)
MICRO = TINY.with_overrides(
    name="micro", size=32, vae_loss="mse", heatmap_sigma=1.0,
    vae=dict(block_out_channels=(32, 32, 32), sample_size=32),
    image_encoder=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                       projection_dim=32),
    unet=dict(block_out_channels=(32, 32, 64), sample_size=8, cross_attention_dim=32, attention_head_dim=2),
    motion=dict(block_out_channels=(32, 32, 64), motion_num_attention_heads=2, motion_max_seq_length=32),
    guidance=dict(block_out_channels=(16, 32, 32), attention_heads=2),
    m2penc=dict(channels=32, heads=2, layers=1, max_frames=32, seq_layers=1, seq_width=32),
    segment_seconds=1.2, window=6, overlap=2, carry=2, steps=3,
    recipes={"0": dict(steps=2, batch=4, lr=1e-3, frames=1), "1": dict(steps=2, batch=2, lr=1e-3, frames=4),
             "2": dict(steps=2, batch=2, lr=1e-3, frames=1), "3": dict(steps=2, batch=1, lr=1e-3, frames=4)},
)

CONFIGS = {"tiny": TINY, "full": FULL, "micro": MICRO}


def get_config(name: str, route: str | None = None, **overrides) -> M2PConfig:
    """A copy of the config ``name``, on ``route`` when given (``M2PConfig.for_route``), with fields replaced."""
    if name not in CONFIGS:
        raise EvalkitError(f"unknown m2p config '{name}'", hint=f"choose from: {', '.join(CONFIGS)}")
    cfg = copy.deepcopy(CONFIGS[name])
    cfg = cfg.with_overrides(**overrides) if overrides else cfg
    return cfg.for_route(route) if route else cfg
