"""Training stages of m2p with accelerate (1..N GPUs, or CPU).

Stages (paper numbering; ``0`` is the tiny model's own VAE, which the full model takes from SD):

* 0 — VAE on single frames: ``vae_loss="mse"`` MSE + 1e-6·KL (the first tiny run); ``"sd"`` the SD autoencoder's
  recipe without its discriminator, L1 + LPIPS(VGG) + 1e-6·KL. Afterwards the latent scale is set to 1/std of
  the latents.
* 2 — image stage: guidance encoders + reference U-Net + the denoiser's spatial layers (+ the tiny image
  encoder) on single frames (F = 1, motion modules frozen at identity); min-SNR v-loss in latent space
  (CHAMP stage 1; the paper's "pixel MSE" would need VAE decoding in the loop).
* 1 — M2PEnc on SDGPip data: MSE to G* (the frozen guidance encoders' summed features on the rendered maps)
  + λ·MSE to keypoint heatmaps. Its teacher is stage 2's guidance encoders, so for ``tiny`` stage 2 runs
  first; ``full`` has CHAMP's pretrained encoders.
* 3 — temporal stage: motion modules + M2PEnc jointly, loss 0.5·L_diffusion + 0.5·L_M2PEnc, the denoiser
  driven by M2PEnc's guidance (so music reaches the video end to end), or by the true skeleton with
  ``guidance_source="keypoints"`` (the keypoint route: M2PEnc's keypoints are drawn at inference).

The config's ``route`` says what the denoiser learns from. ``"keypoints"`` (the committed ``tiny``): stage 2 on
the true maps. ``"paper"`` (seed paper 1): stage 2 with M2PEnc frozen and in the loop — the denoiser learns from
M2PEnc's guidance features for the frame (M2PEnc reads a window of ``cfg.window`` frames of music around it and
sits in eval mode, as at inference), never from the true maps — and stage 3 as above with M2PEnc's guidance.
M2PEnc must be trained first (stage 1), so the paper route's order is 1, 2, 3 (``tiny``: after a keypoint-route
stage 2 has trained the guidance encoders that teach stage 1).

Every stage writes ``<out>/stage<N>/``: ``last.safetensors`` (weights), ``train_state.pt`` (optimizer,
random generator, step, elapsed time), ``log.csv`` (losses), ``loss.png``; when it finishes,
``<out>/latest.safetensors`` holds the model with the stage recorded in its metadata. ``resume=True``
continues from ``train_state.pt`` and draws exactly the batches an uninterrupted run would have drawn.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.errors import EvalkitError

from .config import M2PConfig
from .data import ClipSet
from .keypoint_guidance import drop_maps, skeleton_type
from .m2penc import m2penc_loss
from .model import M2PModel, load_checkpoint, load_state, read_checkpoint, save_checkpoint
from .scheduler import add_noise, diffusion_loss, make_scheduler
from .unet import motion_parameters, spatial_parameters
from ..trainlog import plot_curves, plot_log
from ..training import (StageLog, init_source, load_train_state, mixed_precision, optimizer_step, save_train_state,
                        stage_folder, with_recipe)

STAGE_NAMES = {0: "vae", 1: "m2penc", 2: "image", 3: "temporal"}
PREREQUISITES = {0: (), 2: ("0",), 1: ("2",), 3: ("1", "2")}
PAPER_PREREQUISITES = {**PREREQUISITES, 2: ("0", "1")}  # stage 2 reads a trained M2PEnc
STAGE3_WEIGHTS = (0.5, 0.5)  # L_total = 0.5·L_pix + 0.5·L_guid (seed paper 1; L_pix is the latent v-loss here)
PART_NAMES = {0: ("rec_mse", "lpips_vgg"), 1: ("guid_mse", "heat_mse"), 2: ("v_loss", "keep_frac"),
              3: ("diffusion", "m2penc")}


def part_names(stage: int, model) -> tuple[str, str]:
    """What the log's two part columns hold (stage 1 logs the keypoint error when M2PEnc regresses keypoints)."""
    if stage == 1 and model.m2penc.regresses_keypoints:
        return "kp_error (latent px)", "heat_mse"
    return PART_NAMES[stage]


@dataclass
class TrainOptions:
    stage: int
    out: Path
    steps: int | None = None
    batch: int | None = None
    lr: float | None = None
    resume: bool = False
    init: Path | None = None  # checkpoint to start from; default <out>/latest.safetensors
    max_minutes: float | None = None  # training-time budget: the lr schedule follows it, and the stage stops
    stop_after: int | None = None  # leave after this many steps of this invocation (resume later); tests
    log_every: int = 10
    save_every: int = 500
    seed: int = 0
    mixed_precision: str | None = None  # None: bf16 on CUDA, no on CPU
    progress: bool = True
    data_info: dict | None = None  # what the clips were (run_stages fills it): the checkpoint's recipe says it


# which parameters each stage trains ----------------------------------------------------------------------
def trainable_parameters(model: M2PModel, stage: int) -> list[nn.Parameter]:
    if stage == 0:
        return list(model.vae.parameters())
    if stage == 1:
        return list(model.m2penc.parameters())
    if stage == 2:
        params = list(model.reference_unet.parameters()) + spatial_parameters(model.denoiser.unet)
        if model.cfg.route != "paper":  # on the paper route the guidance encoders are not in the loop
            params = list(model.guidance.parameters()) + params
        if model.cfg.train_image_encoder:
            params += list(model.image_encoder.parameters())
        return params
    if stage == 3:
        return motion_parameters(model.denoiser.unet) + list(model.m2penc.parameters())
    raise EvalkitError(f"unknown stage {stage}", hint="stages: 0 (tiny VAE), 1, 2, 3")


def set_trainable(model: M2PModel, stage: int) -> list[nn.Parameter]:
    params = trainable_parameters(model, stage)
    ids = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    return params


def frozen_modes(model: M2PModel, stage: int) -> None:
    """A frozen module in the loop runs as at inference: the paper route's stage-2 M2PEnc without dropout."""
    if stage == 2 and model.cfg.route == "paper":
        model.m2penc.eval()


def stage_dir_name(cfg: M2PConfig, stage: int) -> str:
    """``stage<N>``, and ``stage<N>-paper`` for the paper route's stages 2 and 3: on ``tiny`` the paper route
    re-runs stage 2 after the keypoint route's, in the same run folder."""
    return f"stage{stage}-paper" if cfg.route == "paper" and stage in (2, 3) else f"stage{stage}"


def paper_image_stage(cfg: M2PConfig, stage: int) -> bool:
    return stage == 2 and cfg.route == "paper"


class StageLoss(nn.Module):
    """The loss of one stage as a module, so accelerate/DDP wrap one forward that touches every trained
    parameter. All randomness comes in with the batch (drawn from the run's seeded generator)."""

    def __init__(self, model: M2PModel, stage: int):
        super().__init__()
        self.model, self.stage = model, stage
        self.scheduler = make_scheduler()
        if stage == 0 and model.cfg.vae_loss == "sd":
            from evalkit.features.lpips_net import LPIPSNet

            self.perceptual = LPIPSNet("vgg")  # frozen; VGG as SD's autoencoder (the metric's default is alex)

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return getattr(self, f"_stage{self.stage}")(batch)

    def _stage0(self, b):
        x = b["frames"][:, :, 0]
        dist = self.model.vae.encode(x).latent_dist
        z = dist.mean + dist.std * b["eps"]
        rec = self.model.vae.decode(z).sample
        mse = F.mse_loss(rec.float(), x.float())
        kl = dist.kl().mean() / z[0].numel()
        if self.model.cfg.vae_loss == "mse":
            return mse + 1e-6 * kl, mse.detach(), torch.zeros(())
        lp = self.perceptual.distance(rec, x).mean()
        return F.l1_loss(rec.float(), x.float()) + lp + 1e-6 * kl, mse.detach(), lp.detach()

    def _latents(self, frames):
        m = self.model
        with torch.no_grad():
            b, _, f = frames.shape[:3]
            z = m.encode(frames.permute(0, 2, 1, 3, 4).flatten(0, 1))
            return z.view(b, f, *z.shape[1:]).permute(0, 2, 1, 3, 4)

    def _diffusion(self, b, guid, grad_reference: bool):
        m, cfg = self.model, self.model.cfg
        z0 = self._latents(b["frames"])
        with torch.set_grad_enabled(grad_reference):
            context = m.reference(b["reference"], keep=b["keep"])
        noise = b["noise"] + cfg.noise_offset * b["noise_offset"]
        z_t = add_noise(self.scheduler, z0, noise, b["t"])
        v = m.denoise(z_t, b["t"], context, guid)
        m.bank.clear()
        return diffusion_loss(self.scheduler, v, z0, noise, b["t"], cfg.snr_gamma)

    def _maps(self, b, all_dropped: bool = False) -> dict:
        """The batch's guidance maps, non-skeleton ones zeroed for the samples drawn for ``guidance_dropout``
        (or for all samples): the denoiser learns to work from the skeleton alone (``keypoint_guidance``)."""
        if not all_dropped and "drop" not in b:
            return b["guidance"]
        skeleton = skeleton_type(self.model.cfg.guidance_types)
        return drop_maps(b["guidance"], skeleton, None if all_dropped else b["drop"])

    def _stage2(self, b):
        if self.model.cfg.route == "paper":
            guid, b = self._frozen_m2penc(b), {**b, "frames": _pick(b["frames"], b["pick"])}
        else:
            guid = self.model.guidance(self._maps(b))
        loss = self._diffusion(b, guid, grad_reference=True)
        return loss, loss.detach(), b["keep"].float().mean()

    def _frozen_m2penc(self, b):
        """The paper route's stage-2 guidance: the frozen M2PEnc on the music window (and the reference pose, for
        an M2PEnc that reads it), at each sample's picked frame — (B, C_guid, 1, s, s). The true maps are not read."""
        with torch.no_grad():
            guid = self.model.m2penc(b["music"], reference=b.get("reference_kp"))[0]
        return _pick(guid, b["pick"])

    def _teacher(self, b):
        with torch.no_grad():
            return self.model.guidance(b["guidance"])

    def _m2penc(self, b):
        """M2PEnc's guidance, its loss against the frozen encoders' maps and the keypoint heatmaps, the parts."""
        cfg = self.model.cfg
        guid, heat, kp = self.model.m2penc(b["music"], keypoints=True, reference=b.get("reference_kp"))
        return (guid, *m2penc_loss(guid, heat, self._teacher(b), b["heat"], cfg.heat_weight, cfg.motion_weight,
                                   kp, cfg.keypoint_weight))

    def _stage1(self, b):
        _, loss, parts = self._m2penc(b)
        # with regressed keypoints their error (latent pixels) says more than the guidance MSE
        return loss, parts.get("kp_error", parts["guid_mse"]), parts["heat_mse"]

    def _stage3(self, b):
        guid, l_m2p, _ = self._m2penc(b)
        if self.model.cfg.guidance_source == "keypoints":  # the skeleton of the true pose drives the denoiser
            with torch.no_grad():
                guid = self.model.guidance(self._maps(b, all_dropped=True))
        l_diff = self._diffusion(b, guid, grad_reference=False)
        w_pix, w_guid = STAGE3_WEIGHTS
        return w_pix * l_diff + w_guid * l_m2p, l_diff.detach(), l_m2p.detach()


def _pick(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, C, F, …) → (B, C, 1, …): frame ``index[i]`` of sample i."""
    return x[torch.arange(x.shape[0], device=x.device), :, index.to(x.device)].unsqueeze(2)


def draw_batch(data: ClipSet, cfg: M2PConfig, stage: int, n: int, frames: int, gen: torch.Generator,
               device) -> dict:
    """Data plus every random number the stage's forward needs, all from ``gen`` (on the data's device). The paper
    route's stage 2 draws ``cfg.window`` frames of music (M2PEnc's context) and no guidance maps, then picks the
    frame it trains on."""
    paper = paper_image_stage(cfg, stage)
    b = data.batch(n, cfg.window if paper else frames, gen, guidance=stage != 0 and not paper,
                   motion=stage in (1, 3) or paper)
    dev = data.device
    if stage == 0:
        b["eps"] = torch.randn((n, cfg.vae["latent_channels"], cfg.latent_size, cfg.latent_size),
                               generator=gen, device=dev)
    if stage in (2, 3):
        shape = (n, cfg.vae["latent_channels"], frames, cfg.latent_size, cfg.latent_size)
        b["noise"] = torch.randn(shape, generator=gen, device=dev)
        b["noise_offset"] = torch.randn(shape[:2] + (1, 1, 1), generator=gen, device=dev)
        b["t"] = torch.randint(0, 1000, (n,), generator=gen, device=dev)
        b["keep"] = torch.rand(n, generator=gen, device=dev) >= cfg.uncond_ratio
        if cfg.guidance_dropout > 0:  # drawn only then, so older runs resume with the same batches
            b["drop"] = torch.rand(n, generator=gen, device=dev) < cfg.guidance_dropout
    if paper:
        b["pick"] = torch.randint(0, cfg.window, (n,), generator=gen, device=dev)
    return _to(b, device)


def _to(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def lr_factor(step: int, total: int, elapsed: float = 0.0, budget_s: float | None = None) -> float:
    """Linear warm-up (≤ 100 steps), then cosine to 10 % over the stage's progress — the larger of
    step/total and, with a time budget, elapsed/budget (so a time-limited stage still anneals)."""
    warm = max(1, min(100, total // 10))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    if budget_s:
        progress = max(progress, elapsed / budget_s)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# the run ------------------------------------------------------------------------------------------------
def start_model(cfg: M2PConfig, opts: TrainOptions, device) -> tuple[M2PModel, dict]:
    """The model a stage starts from: --init, else <out>/latest.safetensors, else fresh (stage 0 only)."""
    init = opts.init or (opts.out / "latest.safetensors")
    if Path(init).is_file():
        ck_cfg, meta, tensors = read_checkpoint(init)
        if ck_cfg.name != cfg.name:
            raise EvalkitError(f"checkpoint is config '{ck_cfg.name}', training '{cfg.name}'", path=init)
        if ck_cfg.latent_size != cfg.latent_size:
            tensors = resize_latent_grid(tensors, ck_cfg.latent_size, cfg.latent_size)
        model = M2PModel(cfg)
        if ck_cfg.m2penc != cfg.m2penc:  # another M2PEnc architecture
            tensors, meta = carry_m2penc(model, ck_cfg, cfg, tensors, meta, Path(init).name)
        load_state(model, tensors, init)
    elif opts.init is not None:
        raise EvalkitError("initial checkpoint not found", path=opts.init)
    else:
        model, meta = M2PModel(cfg), {"stages": []}
    check_prerequisites(cfg, opts.stage, meta, init)
    return model.to(device), meta


def check_prerequisites(cfg: M2PConfig, stage: int, meta: dict, source) -> None:
    """The stages a stage builds on must be in the checkpoint; the paper route's stage 3 also needs its stage 2
    on the paper route (a denoiser that learned from M2PEnc's guidance, not from the true maps)."""
    done = [str(s) for s in meta.get("stages", [])]
    paper = cfg.route == "paper"
    missing = [s for s in (PAPER_PREREQUISITES if paper else PREREQUISITES)[stage] if s not in done]
    if paper and stage == 3 and "2" in done and meta.get("stage2", {}).get("route") != "paper":
        missing.append("2 (paper route)")
    if missing:
        hint = ("paper route: stage 1 (M2PEnc) first, then 2 and 3 with --route paper, e.g. --init a trained tiny "
                "checkpoint --stage 2,3" if paper else
                "tiny order: 0 (VAE), 2 (image; trains the guidance encoders that teach stage 1), 1, 3")
        raise EvalkitError(f"stage {stage} needs stage(s) {', '.join(missing)} first "
                           f"(done: {', '.join(done) or 'none'})", path=source, hint=hint)


def carry_m2penc(model: M2PModel, ck_cfg: M2PConfig, cfg: M2PConfig, tensors: dict, meta: dict,
                 name: str) -> tuple[dict, dict]:
    """Warm start from a checkpoint with another M2PEnc: its tensors whose name and shape match are kept, the
    rest start fresh, and so does the keypoint head when it changes between absolute positions and displacements
    from the reference pose (the same shape, another meaning); the music statistics are refitted."""
    fresh = model.m2penc.state_dict()
    new_head = bool(ck_cfg.m2penc.get("reference_pose")) != bool(cfg.m2penc.get("reference_pose"))
    old = {k[len("m2penc."):]: v for k, v in tensors.items() if k.startswith("m2penc.")}
    keep = {k for k, v in old.items() if k in fresh and tuple(v.shape) == tuple(fresh[k].shape)
            and not (new_head and k.startswith("kp_head.")) and k not in ("music_mean", "music_std")}
    out = {k: v for k, v in tensors.items() if not k.startswith("m2penc.")}
    out.update({f"m2penc.{k}": (old[k] if k in keep else v) for k, v in fresh.items()
                if not k.endswith("pos_embed.pe")})
    print(f"M2PEnc {ck_cfg.m2penc} in {name} differs from {cfg.m2penc}: {len(keep)} of its {len(fresh)} tensors "
          f"kept, {len(fresh) - len(keep)} start fresh", flush=True)
    return out, {k: v for k, v in meta.items() if k != "music_stats"}


def resize_latent_grid(tensors: dict, old: int, new: int) -> dict:
    """Warm start at another frame size: every weight is size-free (convolutions, attention over tokens)
    except M2PEnc's music → S² projection, whose rows are a grid; it is resampled bilinearly to the new grid."""
    out = dict(tensors)
    for key in ("m2penc.proj.weight", "m2penc.proj.bias"):
        w = tensors[key].float()
        grid = w.reshape(old, old, -1).permute(2, 0, 1)[None]  # (1, D, S, S); bias: D = 1
        grid = F.interpolate(grid, size=(new, new), mode="bilinear", align_corners=False)
        out[key] = grid[0].permute(1, 2, 0).reshape(new * new, *w.shape[1:]).to(tensors[key].dtype)
    return out


def train_stage(cfg: M2PConfig, data: ClipSet, opts: TrainOptions) -> dict:
    """Run (or resume) one stage; returns a summary dict (also written to <out>/stage<N>/summary.json)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    stage = opts.stage
    if stage == 0 and cfg.name == "full":
        raise EvalkitError("stage 0 trains the tiny VAE; the full model uses the pretrained SD VAE")
    recipe = cfg.recipe(stage)
    steps, batch_n = opts.steps or recipe.steps, opts.batch or recipe.batch
    lr = opts.lr or recipe.lr
    mp = mixed_precision(opts.mixed_precision)
    acc = Accelerator(mixed_precision=mp,
                      kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    stage_dir = Path(opts.out) / stage_dir_name(cfg, stage)
    state_file = stage_folder(stage_dir, opts.resume)

    if opts.resume:
        model, meta = load_checkpoint(stage_dir / "last.safetensors", device=acc.device)
    else:
        model, meta = start_model(cfg, opts, acc.device)
        meta["stage_init"] = init_source(opts.init, Path(opts.out) / "latest.safetensors")
    model.train()
    if stage in (1, 3) and "music_stats" not in meta:  # standardisation of the music features
        mean, std = data.music_stats()
        model.m2penc.set_music_stats(mean.to(acc.device), std.to(acc.device))
        ref_mean = data.reference_mean()
        if ref_mean is not None:  # the body M2PEnc draws for a reference without keypoints
            model.m2penc.set_reference_mean(ref_mean.to(acc.device))
        meta["music_stats"] = True
    if stage in (1, 3) and model.m2penc.reads_reference_pose and acc.is_main_process:
        lacking = sum(c.reference_kp is None for c in data.clips)
        if lacking:  # their batches fall back to the mean reference: said, not hidden
            print(f"{lacking} of {len(data.clips)} clips have no reference keypoints; a batch holding one reads "
                  f"the training mean reference instead", flush=True)
    params = set_trainable(model, stage)
    frozen_modes(model, stage)
    loss_mod = StageLoss(model, stage)
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    gen = torch.Generator(device=data.device).manual_seed(opts.seed * 1000 + stage * 10 + acc.process_index)
    step, elapsed = 0, 0.0
    if opts.resume:
        st = load_train_state(state_file, optim, gen)
        step, elapsed = int(st["step"]), float(st["elapsed"])
    loss_mod, optim = acc.prepare(loss_mod, optim)
    frames = recipe.frames
    title = f"stage {stage} ({STAGE_NAMES[stage]})"
    log = StageLog(stage_dir / "log.csv", opts.resume, acc.is_main_process, opts.progress, title, steps, step,
                   opts.log_every)

    def save(final: bool):
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return
        run_meta = {**meta, "stage_in_progress": stage, "step": step}
        save_checkpoint(model, stage_dir / "last.safetensors", run_meta)
        save_train_state(state_file, optim, gen, step, elapsed)
        plot_log(log.path, stage_dir / "loss.png", title, part_names(stage, model))

    t0 = time.perf_counter() - elapsed
    budget_s = opts.max_minutes * 60 if opts.max_minutes else None
    stopped_by_time, start_step = False, step
    while step < steps:
        lr_now = lr * lr_factor(step, steps, time.perf_counter() - t0, budget_s)
        for group in optim.param_groups:
            group["lr"] = lr_now
        b = draw_batch(data, cfg, stage, batch_n, frames, gen, acc.device)
        torch.manual_seed(opts.seed * 100_003 + stage * 10_007 + step * 8 + acc.process_index)  # dropout: resumable
        loss, pa, pb = optimizer_step(acc, loss_mod, b, optim, params, f"stage {stage}", step)
        step += 1
        elapsed = time.perf_counter() - t0
        log.add(step, loss, pa, pb, lr_now, elapsed)
        if budget_s and _all_agree(acc, elapsed > budget_s):
            stopped_by_time = True
            break
        if opts.stop_after and step - start_step >= opts.stop_after and step < steps:
            log.flush()
            save(False)
            log.close()
            return {"steps": step, "planned_steps": steps, "interrupted": True}
        if step % opts.save_every == 0 and step < steps:
            save(False)
    log.close()
    if stage == 0:
        with torch.no_grad():
            model.latent_scale.fill_(latent_scale(model, data, gen, acc.device))
    summary = {"steps": step, "planned_steps": steps, "batch": batch_n, "lr": lr, "frames": frames,
               "route": cfg.route, "seconds": round(elapsed, 1), "stopped_by_time": stopped_by_time,
               "processes": acc.num_processes, "mixed_precision": mp, "last": log.last}
    meta = {**meta, "stages": sorted(set(meta.get("stages", [])) | {str(stage)}), f"stage{stage}": summary}
    meta = with_recipe(meta, {"stage": stage, "route": cfg.route, "init": meta.pop("stage_init", "resumed run"),
                              "steps": step, "batch": batch_n, "lr": lr, "seconds": summary["seconds"],
                              **stage_recipe_extras(cfg, stage, opts, acc.device)})
    meta.pop("stage_in_progress", None)
    save(True)
    if acc.is_main_process:
        save_checkpoint(model, Path(opts.out) / "latest.safetensors", meta)
        (stage_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def stage_recipe_extras(cfg: M2PConfig, stage: int, opts: TrainOptions, device) -> dict:
    """What else a stage's recipe entry records: its time budget, the device, the data, and what the loss was
    (stage 3's weights; on the paper route, stage 2's guidance source)."""
    dev = torch.device(device)
    extras = {"max_minutes": None if opts.max_minutes is None else round(opts.max_minutes, 3),
              "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
              "data": opts.data_info}
    if stage == 3:
        extras["loss_weights"] = {"pix": STAGE3_WEIGHTS[0], "guid": STAGE3_WEIGHTS[1]}
    if paper_image_stage(cfg, stage):
        extras["guidance"] = "M2PEnc, frozen, in the loop"
    return extras


def data_info(samples, clips, cfg: M2PConfig) -> dict:
    """The training clips in a recipe: where they came from (the SDGPip folder and its generation settings, when
    it has them), how many, how many frames at which fps and size."""
    roots = sorted({str(Path(s.video).parent.parent) for s in samples})
    info = {"source": roots[0] if len(roots) == 1 else roots, "clips": len(clips),
            "frames": sum(c.num_frames for c in clips), "fps": cfg.fps, "size": cfg.size}
    settings = Path(roots[0]) / "sdgpip.json"
    if len(roots) == 1 and settings.is_file():
        sd = json.loads(settings.read_text())
        info["sdgpip"] = {k: sd.get("settings", sd).get(k) for k in ("seed", "seconds", "fps", "choreography")}
    return info


def _all_agree(acc, flag: bool) -> bool:
    """The time budget is spent when any process says so (processes must stop on the same step)."""
    if acc.num_processes == 1:
        return flag
    return bool(acc.reduce(torch.tensor([float(flag)], device=acc.device), reduction="sum").item() > 0)


def latent_scale(model: M2PModel, data: ClipSet, gen, device, n: int = 256) -> float:
    """1 / std of the (unscaled) VAE latent means on ``n`` random frames."""
    b = data.batch(n, 1, gen, guidance=False)
    x = b["frames"][:, :, 0].to(device)
    z = model.vae.encode(x.to(model.vae.dtype)).latent_dist.mean
    return float(1.0 / z.float().std().clamp_min(1e-6))


def export(src: Path, dest: Path, dtype=torch.float16) -> Path:
    """Copy a trained model to ``dest`` with weights in ``dtype`` (the committed tiny checkpoint is fp16)."""
    model, meta = load_checkpoint(src)
    save_checkpoint(model, dest, meta, dtype=dtype)
    return dest




# several stages in one process (data loaded once) ------------------------------------------------------------
STAGE_SHARE = {0: 0.15, 2: 0.35, 1: 0.15, 3: 0.35}  # of a total --max-minutes budget


def parse_stages(text: str) -> list[int]:
    try:
        stages = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise EvalkitError(f"--stage {text!r}: give a stage number or a comma list such as 0,2,1,3") from None
    bad = [s for s in stages if s not in STAGE_NAMES]
    if not stages or bad:
        raise EvalkitError(f"--stage {text!r}: stages are 0 (tiny VAE), 1, 2, 3")
    return stages


def clip_needs(cfg: M2PConfig, stages: list[int]) -> tuple[bool, bool]:
    """Whether the clips must carry music + heatmaps, and guidance maps, for ``stages``: the paper route's stage 2
    reads the music (M2PEnc) and no map."""
    motion = any(s in (1, 3) or paper_image_stage(cfg, s) for s in stages)
    return motion, any(s in (1, 3) or (s == 2 and not paper_image_stage(cfg, s)) for s in stages)


def run_stages(cfg: M2PConfig, samples, stages: list[int], opts: TrainOptions, jobs: int = 1,
               echo=print) -> dict:
    """Load the clips once (on the GPU when there is one), then run ``stages`` in order.
    ``opts.max_minutes`` is the budget for all of them, shared as STAGE_SHARE says."""
    from .data import ClipSet, load_clips

    samples = list(samples)
    need_motion, need_guidance = clip_needs(cfg, stages)
    t0 = time.perf_counter()
    clips = load_clips(samples, cfg, need_motion, need_guidance, jobs,
                       progress=lambda d, n: echo(f"\rloading clips {d}/{n}", end="" if d < n else "\n"))
    # under `accelerate launch` every process keeps its clips on its own GPU
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else "cpu"
    data = ClipSet(clips, device)
    echo(f"{len(clips)} clips, {sum(c.num_frames for c in clips)} frames at {cfg.fps:g} fps, {cfg.size}² "
         f"(loaded in {time.perf_counter() - t0:.0f} s)")
    opts = TrainOptions(**{**opts.__dict__, "data_info": data_info(samples, clips, cfg)})
    total_share = sum(STAGE_SHARE[s] for s in stages)
    summaries = {}
    for s in stages:
        budget = opts.max_minutes * STAGE_SHARE[s] / total_share if opts.max_minutes else None
        stage_opts = TrainOptions(**{**opts.__dict__, "stage": s, "max_minutes": budget})
        if s != stages[0]:
            stage_opts.init, stage_opts.resume = None, False  # continue from <out>/latest.safetensors
        summaries[s] = train_stage(cfg, data, stage_opts)
        echo(f"stage {s} ({STAGE_NAMES[s]}): {summaries[s]['steps']} steps in {summaries[s]['seconds']} s, "
             f"last loss {summaries[s]['last'].get('loss', float('nan')):.4f}")
    plot_all(Path(opts.out))
    return summaries


def plot_all(out: Path, stages=(0, 2, 1, 3)) -> Path | None:
    """One PNG with the loss curve of every stage trained in ``out`` (README figure), in training order; the
    paper route's stages after the keypoint route's."""
    panels = [(f"stage {s} ({STAGE_NAMES[s]})", out / f"stage{s}" / "log.csv") for s in stages]
    panels += [(f"stage {s} ({STAGE_NAMES[s]}, paper route)", out / f"stage{s}-paper" / "log.csv") for s in (2, 3)]
    return plot_curves(panels, out / "loss_curves.png", width=4.0)
