"""m2p training-step benchmark on the paper route: peak GPU memory and seconds per optimizer step of stage 2
(M2PEnc frozen in the loop) and stage 3 (temporal layers + M2PEnc, 0.5 L_pix + 0.5 L_guid), random weights.

    python benchmarks/m2p_train_step.py --config full --device cuda --out r.json   # the GPU run (README figures)
    python benchmarks/m2p_train_step.py --config micro --device cpu --steps 1       # dry run of the same code path

It runs the training code itself (``StageLoss``, ``draw_batch``, ``optimizer_step`` under accelerate's bf16
autocast, AdamW) on a synthetic clip set of the config's frame size, so the step is the one ``evalkit train m2p
--route paper`` takes, with the stage's recipe batch (full: stage 2 = 4 frames, stage 3 = 1 clip × 24 frames).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch


def synthetic_clips(cfg, n: int, frames: int, gen: torch.Generator):
    """``n`` random clips with every input a stage reads: frames, reference, music, heatmaps, guidance maps."""
    from evalkit.models.m2p.data import Clip

    s, lat, k = cfg.size, cfg.latent_size, cfg.heat_channels
    reads_ref = bool(cfg.m2penc.get("reference_pose"))
    return [Clip(f"synthetic{i}",
                 frames=torch.randint(0, 256, (frames, 3, s, s), generator=gen, dtype=torch.uint8),
                 reference=torch.randint(0, 256, (3, s, s), generator=gen, dtype=torch.uint8),
                 music=torch.randn((frames, cfg.music_dim), generator=gen),
                 heat=torch.rand((frames, k, lat, lat), generator=gen).half(),
                 guidance={g: torch.randint(0, 256, (frames, 3, s, s), generator=gen, dtype=torch.uint8)
                           for g in cfg.guidance_types},
                 reference_kp=torch.cat([torch.rand((k, 2), generator=gen) * lat, torch.ones(k, 1)], 1)
                 if reads_ref else None)
            for i in range(n)]


def bench_stage(model, data, stage: int, steps: int, warmup: int, device) -> dict:
    from accelerate import Accelerator

    from evalkit.models.m2p.train import StageLoss, draw_batch, frozen_modes, set_trainable
    from evalkit.models.training import optimizer_step

    cfg = model.cfg
    recipe = cfg.recipe(stage)
    acc = Accelerator(mixed_precision="bf16" if device.type == "cuda" else "no", cpu=device.type == "cpu")
    model.train()
    params = set_trainable(model, stage)
    frozen_modes(model, stage)
    loss_mod, optim = acc.prepare(StageLoss(model, stage), torch.optim.AdamW(params, lr=1e-6, weight_decay=1e-2))
    gen = torch.Generator(device=data.device).manual_seed(stage)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for step in range(warmup + steps):
        b = draw_batch(data, cfg, stage, recipe.batch, recipe.frames, gen, acc.device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _, _ = optimizer_step(acc, loss_mod, b, optim, params, f"stage {stage}", step)
        loss = float(loss.detach())  # waits for the step
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:  # the first steps allocate the optimizer state and pick kernels
            times.append(time.perf_counter() - t0)
        losses.append(loss)
    out = {"stage": stage, "batch": recipe.batch, "frames": recipe.frames, "trainable_parameters":
           sum(p.numel() for p in params), "steps_timed": len(times), "seconds_per_step_mean": sum(times) / len(times),
           "seconds_per_step_min": min(times), "seconds_per_step_max": max(times), "losses": losses}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        out["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2 ** 30
    del optim, loss_mod
    for p in model.parameters():  # free the stage's gradients before the next stage measures its peak
        p.grad = None
    return out


def main(argv=None) -> dict:
    from evalkit.models.m2p.config import get_config
    from evalkit.models.m2p.data import ClipSet
    from evalkit.models.m2p.model import M2PModel

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="full")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--stages", default="2,3")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per stage")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON file to write")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    cfg = get_config(args.config, route="paper")
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = M2PModel(cfg).to(device)
    build_s = time.perf_counter() - t0
    frames = max(cfg.window, cfg.recipe(3).frames) + 2
    data = ClipSet(synthetic_clips(cfg, 2, frames, torch.Generator().manual_seed(0)), device=device)
    result = {"benchmark": "m2p_train_step", "config": cfg.name, "route": cfg.route, "weights": "random",
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "mixed_precision": "bf16" if device.type == "cuda" else "no",
              "parameters": sum(p.numel() for p in model.parameters()), "model_build_seconds": round(build_s, 1),
              "stages": []}
    for stage in (int(s) for s in args.stages.split(",")):
        try:
            r = bench_stage(model, data, stage, args.steps, args.warmup, device)
        except torch.cuda.OutOfMemoryError as err:  # recorded, not hidden: the figure says it does not fit
            r = {"stage": stage, "error": f"out of memory: {str(err).splitlines()[0]}",
                 "peak_memory_gib": torch.cuda.max_memory_allocated() / 2 ** 30}
            for p in model.parameters():
                p.grad = None
            torch.cuda.empty_cache()
        print(json.dumps({k: v for k, v in r.items() if k != "losses"}), flush=True)
        result["stages"].append(r)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
