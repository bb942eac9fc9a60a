"""Training posedit with accelerate (1..N GPUs, or CPU): the keypoint VAE, then the DiT.

* ``vae`` — AutoencoderKL on single keypoint images: splat-weighted MSE + kl_weight·KL; afterwards the latent
  scale is set to 1/std of the latents, and the codec round trip through the VAE is measured (reported in
  torso lengths and image pixels).
* ``dit`` — flow matching on windows of ``window`` frames, VAE frozen: t ~ logit-normal(0, 1), x_t = (1 − t)·ε
  + t·z, loss MSE(v, z − ε) over all frames (context frames included). A window gets a known prefix of
  1..overlap frames as context with probability ``context_prob`` (what segment stitching feeds it) and the
  null music token with probability ``music_dropout`` (classifier-free guidance). EMA of the DiT weights
  (decay 0.999) is what the final checkpoint holds.

Every stage writes ``<out>/<stage>/``: ``last.safetensors`` (raw weights), ``train_state.pt`` (optimizer, lr
schedule, random generator, EMA, step), ``log.csv``, ``loss.png``; when it finishes ``<out>/latest.safetensors``
holds the model (EMA weights) with the stage recorded. ``resume=True`` continues from ``train_state.pt`` and
draws exactly the batches an uninterrupted run would have drawn.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.errors import EvalkitError

from .codec import encode
from .config import PoseDiTConfig
from .data import ClipBank
from .model import PoseDiTModel, load_checkpoint, save_checkpoint
from ..trainlog import plot_curves, plot_log
from ..training import (StageLog, init_source, load_train_state, mixed_precision, optimizer_step, save_train_state,
                        stage_folder, with_recipe)

STAGES = ("vae", "dit")
STAGE_SHARE = {"vae": 0.3, "dit": 0.7}  # of a total --max-minutes budget
PART_NAMES = {"vae": ("weighted_mse", "kl"), "dit": ("flow_mse", "context_frac")}
EMA_DECAY = 0.999


@dataclass
class TrainOptions:
    out: Path
    stages: tuple[str, ...] = STAGES
    steps: int | None = None
    batch: int | None = None
    lr: float | None = None
    resume: bool = False
    init: Path | None = None  # checkpoint to start from; default <out>/latest.safetensors (dit)
    max_minutes: float | None = None  # budget for all listed stages (shared as STAGE_SHARE says)
    log_every: int = 10
    save_every: int = 500
    seed: int = 0
    mixed_precision: str | None = None  # None: bf16 on CUDA, no on CPU
    progress: bool = True
    counts: dict = field(default_factory=dict)  # data counts, recorded in the checkpoint


def parse_stages(text: str | None) -> tuple[str, ...]:
    if not text:
        return STAGES
    stages = tuple(s.strip() for s in str(text).split(",") if s.strip())
    bad = [s for s in stages if s not in STAGES]
    if not stages or bad:
        raise EvalkitError(f"--stage {text!r}: posedit stages are vae, dit (or vae,dit)")
    return stages


class StageLoss(nn.Module):
    """One stage's loss as a module (so accelerate/DDP wrap one forward). Randomness comes with the batch."""

    def __init__(self, model: PoseDiTModel, stage: str):
        super().__init__()
        self.model, self.stage = model, stage

    def maps(self, unit, valid):
        cfg = self.model.cfg
        return encode(unit, valid, cfg.image_size, cfg.sigma)

    def forward(self, b: dict):
        cfg = self.model.cfg
        if self.stage == "vae":
            return self.model.vae.loss(self.maps(b["unit"], b["valid"]), b["eps"], cfg.fg_weight, cfg.kl_weight)
        n, w = b["unit"].shape[:2]
        with torch.no_grad():
            z = self.model.vae.encode(self.maps(b["unit"], b["valid"]).flatten(0, 1)).view(n, w, -1, cfg.latent_size,
                                                                                            cfg.latent_size)
            ref = self.model.vae.encode(self.maps(b["ref_unit"], b["ref_valid"]))
        t = b["t"].view(n, 1, 1, 1, 1)
        x_t = (1 - t) * b["noise"] + t * z
        mask = (torch.arange(w, device=z.device)[None] < b["k"][:, None]).to(z.dtype)  # known prefix
        v = self.model.dit(x_t, b["t"], b["music"], ref, z, mask, b["keep"])
        # every frame counts, context frames too: sampling keeps the model's own latents there (cross-faded
        # in pose space), so it must reproduce the context it is given
        loss = F.mse_loss(v.float(), (z - b["noise"]).float())
        return loss, loss.detach(), (b["k"] > 0).float().mean()


def draw_batch(bank: ClipBank, cfg: PoseDiTConfig, stage: str, n: int, gen: torch.Generator) -> dict:
    """Data plus every random number the stage's forward needs, all from ``gen``."""
    dev = bank.device
    c, s = cfg.latent_channels, cfg.latent_size
    if stage == "vae":
        b = bank.frames(n, gen)
        b["eps"] = torch.randn((n, c, s, s), generator=gen, device=dev)
        return b
    b = bank.windows(n, cfg.window, gen)
    b["noise"] = torch.randn((n, cfg.window, c, s, s), generator=gen, device=dev)
    b["t"] = torch.sigmoid(torch.randn(n, generator=gen, device=dev))  # logit-normal (SD3)
    has_ctx = torch.rand(n, generator=gen, device=dev) < cfg.context_prob
    k = torch.randint(1, cfg.overlap + 1, (n,), generator=gen, device=dev)
    b["k"] = torch.where(has_ctx, k, torch.zeros_like(k))
    b["keep"] = torch.rand(n, generator=gen, device=dev) >= cfg.music_dropout
    return b


def lr_lambda(plan: dict):
    """Warm-up then cosine to 10 % over ``plan["steps"]`` (read at every step: a time budget may shorten it)."""

    def f(step: int) -> float:
        total = plan["steps"]
        warm = max(1, min(200, total // 10))
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))  # cosine to 10 %
    return f


PROBE_STEPS = 20  # with a time budget, the plan is fitted to the speed measured over these steps


def start_model(cfg: PoseDiTConfig, stage: str, opts: TrainOptions) -> tuple[PoseDiTModel, dict]:
    """VAE: --init or a fresh model. DiT: --init, else <out>/latest.safetensors (which must have the VAE)."""
    init = opts.init or (Path(opts.out) / "latest.safetensors" if stage == "dit" else None)
    if init is not None and Path(init).is_file():
        model, meta = load_checkpoint(init)
        if model.cfg.name != cfg.name:
            raise EvalkitError(f"checkpoint is config '{model.cfg.name}', training '{cfg.name}'", path=init)
    elif opts.init is not None:
        raise EvalkitError("initial checkpoint not found", path=opts.init)
    else:
        model, meta = PoseDiTModel(cfg), {"stages": []}
    if stage == "dit" and "vae" not in meta.get("stages", []):
        raise EvalkitError("the dit stage needs a trained VAE first", path=init,
                           hint="run --stage vae (or vae,dit), or pass --init CHECKPOINT")
    return model, meta


def train_stage(cfg: PoseDiTConfig, bank: ClipBank, stage: str, opts: TrainOptions, max_minutes=None) -> dict:
    """Run (or resume) one stage; returns its summary (also in <out>/<stage>/summary.json)."""
    from accelerate import Accelerator

    recipe = cfg.recipe(stage)
    steps, batch_n, lr = opts.steps or recipe["steps"], opts.batch or recipe["batch"], opts.lr or recipe["lr"]
    mp = mixed_precision(opts.mixed_precision)
    acc = Accelerator(mixed_precision=mp)
    stage_dir = Path(opts.out) / stage
    state_file = stage_folder(stage_dir, opts.resume)
    if opts.resume:
        model, meta = load_checkpoint(stage_dir / "last.safetensors")
    else:
        model, meta = start_model(cfg, stage, opts)
        meta["stage_init"] = init_source(opts.init, Path(opts.out) / "latest.safetensors" if stage == "dit" else None)
    model.to(acc.device).train()
    trained = model.vae if stage == "vae" else model.dit
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for p in trained.parameters() if p.is_floating_point()]
    for p in params:
        p.requires_grad_(True)
    if stage == "dit":
        model.vae.eval()
        if not meta.get("music_stats"):
            mean, std = bank.music_stats()
            model.dit.set_music_stats(mean.to(acc.device), std.to(acc.device))
            meta["music_stats"] = True
    ema = {k: v.detach().clone() for k, v in model.dit.state_dict().items()} if stage == "dit" else None
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2 if stage == "dit" else 0.0)
    plan = {"steps": steps}
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(plan))
    gen = torch.Generator(device=bank.device).manual_seed(opts.seed * 1000 + STAGES.index(stage) * 10
                                                          + acc.process_index)
    step, elapsed = 0, 0.0
    if opts.resume:
        st = load_train_state(state_file, optim, gen)
        sched.load_state_dict(st["lr_schedule"])
        step, elapsed = int(st["step"]), float(st["elapsed"])
        if opts.steps is None:  # keep the plan the run had (a time budget may have shortened it)
            plan["steps"] = steps = int(st.get("planned_steps", steps))
        if ema is not None:
            ema = {k: v.to(acc.device) for k, v in st["ema"].items()}
    loss_mod, optim = acc.prepare(StageLoss(model, stage), optim)
    log = StageLog(stage_dir / "log.csv", opts.resume, acc.is_main_process, opts.progress, f"posedit {stage}", steps,
                   step, opts.log_every)

    def save():
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return
        save_checkpoint(model, stage_dir / "last.safetensors", {**meta, "stage_in_progress": stage, "step": step})
        save_train_state(state_file, optim, gen, step, elapsed, lr_schedule=sched.state_dict(), ema=ema,
                   planned_steps=steps)
        plot_log(log.path, stage_dir / "loss.png", f"posedit {stage}", PART_NAMES[stage])

    t0 = time.perf_counter() - elapsed
    stopped_by_time, probe_start = False, 0.0
    while step < steps:
        b = draw_batch(bank, cfg, stage, batch_n, gen)
        loss, pa, pb = optimizer_step(acc, loss_mod, b, optim, params, f"posedit {stage}", step)
        sched.step()
        step += 1
        if ema is not None:
            update_ema(ema, model.dit, step)
        elapsed = time.perf_counter() - t0
        log.add(step, loss, pa, pb, sched.get_last_lr()[0], elapsed)
        if step == 5:
            probe_start = elapsed  # the first steps include one-off start-up costs
        if max_minutes and step == PROBE_STEPS and not opts.resume:  # fit the schedule to the budget
            per_step = (elapsed - probe_start) / (PROBE_STEPS - 5)
            fit = PROBE_STEPS + int((max_minutes * 60 - elapsed) / max(per_step, 1e-6))
            if fit < steps:
                plan["steps"] = steps = max(fit, PROBE_STEPS + 1)
                log.retotal(steps)
        if max_minutes and elapsed > max_minutes * 60:
            stopped_by_time = True
            break
        if step % opts.save_every == 0 and step < steps:
            save()
    log.close()
    model.eval()
    summary = {"steps": step, "planned_steps": steps, "batch": batch_n, "lr": lr, "seconds": round(elapsed, 1),
               "stopped_by_time": stopped_by_time, "processes": acc.num_processes, "mixed_precision": mp,
               "last": log.last}
    if stage == "vae":
        from .vae import fit_latent_scale

        probe = draw_batch(bank, cfg, "vae", 512, gen)
        with torch.no_grad():
            summary["latent_scale"] = fit_latent_scale(model.vae, loss_mod_maps(model, probe))
            summary["round_trip"] = vae_round_trip(model, probe)
    meta = {**meta, "stages": sorted(set(meta.get("stages", [])) | {stage}), stage: summary,
            "data": opts.counts}
    meta = with_recipe(meta, {"stage": stage, "init": meta.pop("stage_init", "resumed run"), "steps": step,
                              "batch": batch_n, "lr": lr, "seconds": summary["seconds"]})
    meta.pop("stage_in_progress", None)
    save()
    if acc.is_main_process:
        final = model
        if ema is not None:  # the EMA weights are the model
            raw = {k: v.clone() for k, v in model.dit.state_dict().items()}
            model.dit.load_state_dict(ema)
            save_checkpoint(final, Path(opts.out) / "latest.safetensors", meta)
            model.dit.load_state_dict(raw)
        else:
            save_checkpoint(final, Path(opts.out) / "latest.safetensors", meta)
        (stage_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


@torch.no_grad()
def update_ema(ema: dict, module: nn.Module, step: int) -> None:
    """EMA of the DiT's weights, with the usual warm-up of the decay ((1 + step) / (10 + step) at first)."""
    decay = min(EMA_DECAY, (1 + step) / (10 + step))
    for k, v in module.state_dict().items():
        if v.is_floating_point():
            ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        else:
            ema[k].copy_(v)


def loss_mod_maps(model: PoseDiTModel, b: dict) -> torch.Tensor:
    return encode(b["unit"], b["valid"], model.cfg.image_size, model.cfg.sigma)


@torch.no_grad()
def vae_round_trip(model: PoseDiTModel, b: dict) -> dict:
    """Codec → VAE → codec error on a batch of frames: mean / 95th percentile / max, in torso lengths and in
    keypoint-image pixels (the canvas is ``canvas_torsos`` torso lengths wide)."""
    from .codec import decode

    cfg = model.cfg
    maps = loss_mod_maps(model, b)
    rec = model.vae.decode(model.vae.encode(maps.to(next(model.vae.parameters()).dtype))).float()
    unit, _ = decode(rec, cfg.sigma)
    err = (unit - b["unit"]).norm(dim=-1)[b["valid"]].float() * cfg.canvas_torsos  # torso lengths
    q = lambda x: float(torch.quantile(x, 0.95))  # noqa: E731
    px = cfg.image_size / cfg.canvas_torsos
    return {"mean_torso": float(err.mean()), "p95_torso": q(err), "max_torso": float(err.max()),
            "mean_px": float(err.mean()) * px, "p95_px": q(err) * px}


def run(cfg: PoseDiTConfig, samples, opts: TrainOptions, echo=print, jobs: int = 1) -> dict:
    """Load the clips once (on the GPU when there is one), then train ``opts.stages`` in order."""
    from .data import load_clips

    t0 = time.perf_counter()
    clips, counts = load_clips(samples, cfg, echo=lambda s, end="\n": echo(s, end=end), jobs=jobs)
    opts.counts = {**counts, "clips": len(clips), "frames": sum(c.num_frames for c in clips)}
    bank = ClipBank(clips, cfg, "cuda" if torch.cuda.is_available() else "cpu")
    echo(f"{len(clips)} clips, {opts.counts['frames']} frames at {cfg.fps:g} fps (loaded in "
         f"{time.perf_counter() - t0:.0f} s); counts {counts}")
    total = sum(STAGE_SHARE[s] for s in opts.stages)
    summaries = {}
    for i, stage in enumerate(opts.stages):
        budget = opts.max_minutes * STAGE_SHARE[stage] / total if opts.max_minutes else None
        stage_opts = opts if i == 0 else TrainOptions(**{**opts.__dict__, "init": None, "resume": False})
        summaries[stage] = train_stage(cfg, bank, stage, stage_opts, budget)
        echo(f"{stage}: {summaries[stage]['steps']} steps in {summaries[stage]['seconds']} s, "
             f"last loss {summaries[stage]['last'].get('loss', float('nan')):.4f}"
             + (f", round trip {summaries[stage]['round_trip']}" if "round_trip" in summaries[stage] else ""))
    plot_all(Path(opts.out))
    return summaries


def export(src: Path, dest: Path, dtype=torch.float16) -> Path:
    """The trained model (``latest.safetensors``) as a compact checkpoint with weights in ``dtype``."""
    model, meta = load_checkpoint(src)
    if "dit" not in meta.get("stages", []):
        raise EvalkitError("the checkpoint has no trained DiT yet", path=src, hint="run the dit stage first")
    return save_checkpoint(model, dest, meta, dtype=dtype)



def train_cli(stage, config, data, dataset, part, out, steps, batch, lr, resume, init, max_minutes, export_to, seed,
              weights=None, echo=print, jobs: int = 1) -> dict:
    """``evalkit train posedit``: the arguments of the shared ``train`` command (evalkit/cli/model.py)."""
    from evalkit.data.registry import get_split

    from .config import get_config

    if weights is not None:
        raise EvalkitError("--weights is an m2p option; posedit trains from scratch")
    stages = parse_stages(stage)
    cfg = get_config(config)
    out = Path(out) if out else Path("runs") / f"posedit-{config}"
    opts = TrainOptions(out=out, stages=stages, steps=steps, batch=batch, lr=lr, resume=resume,
                        init=Path(init) if init else None, max_minutes=max_minutes, seed=seed)
    summaries = run(cfg, get_split(dataset, part, data), opts, echo=echo, jobs=jobs)
    if export_to:
        dest = export(out / "latest.safetensors", Path(export_to))
        echo(f"exported {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
    return summaries


def plot_all(out: Path) -> Path | None:
    """One PNG with both stages' loss curves (README figure)."""
    return plot_curves([(f"posedit {s}", out / s / "log.csv") for s in STAGES], out / "loss_curves.png", width=4.5)
