"""m2p forward-pass benchmark: shapes, peak memory and seconds per 5-s segment, fp32 eager vs bf16 + SDPA +
torch.compile, on the same random weights and the same seeds.

    python benchmarks/m2p.py --config full --device cuda            # the H200 run (README figures)
    python benchmarks/m2p.py --config tiny --device cpu --steps 2   # dry run of the same code path

Modes (same model object, same inputs):
* ``fp32-eager`` — float32, explicit softmax(QKᵀ)V attention (batch-chunked to fit), no compile;
* ``bf16-sdpa-compile`` — bfloat16 weights, ``scaled_dot_product_attention`` (flash / memory-efficient
  kernels), ``torch.compile`` on the denoising U-Net.

Seconds per segment = reference pass + M2PEnc + ``steps`` × (one DDIM step over every window of the 5-s
segment: CFG batch of 2 per window) + VAE decode of the segment's frames. The step time is measured on a
real 1-step run of the long-video sampler; the rest is measured directly.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device, reps=1):
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        out = fn()
    _sync(device)
    return out, (time.perf_counter() - t0) / reps


def run_mode(model, mode: str, args, device, inputs) -> dict:
    from evalkit.models.m2p.infer import M2PSampler

    dtype = torch.float32 if mode == "fp32-eager" else torch.bfloat16
    model.to(device=device, dtype=dtype)
    model.set_attention_backend("math" if mode == "fp32-eager" else "sdpa")
    compiled = False
    if mode != "fp32-eager" and not args.no_compile:
        try:
            model.denoiser.unet = torch.compile(model.denoiser.unet)
            compiled = True
        except Exception as err:  # inductor needs a C++ toolchain; report, and time eager bf16
            print(f"torch.compile unavailable ({type(err).__name__}: {err}); timing bf16 + SDPA eager")
    sampler = M2PSampler(model, device, dtype)
    cfg = model.cfg
    music, ref = inputs["music"], inputs["ref"].to(device, dtype)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # warm-up (compilation) on one step of the segment, then the measured runs
    _, warm = _timed(lambda: sampler.latents(music, ref[0], seed=0, steps=1), device)
    latents, step = _timed(lambda: sampler.latents(music, ref[0], seed=0, steps=1), device, reps=args.reps)
    _, decode = _timed(lambda: sampler.decode(latents), device)
    with torch.no_grad():
        ctx, t_ref = _timed(lambda: model.reference(ref), device)
        base = dict(model.bank.features)
        feats = torch.as_tensor(music[: cfg.window], device=device).unsqueeze(0)
        (guid, heat), t_m2p = _timed(lambda: model.m2penc(feats.to(dtype)), device)
        z = inputs["z"].to(device, dtype)
        model.bank.features = {k: v.repeat(2, 1, 1) for k, v in base.items()}
        model.bank.keep = torch.tensor([False, True])
        window = lambda: model.denoise(torch.cat([z, z]), torch.tensor([500], device=device),  # noqa: E731
                                       torch.cat([torch.zeros_like(ctx), ctx]), torch.cat([guid, guid]))
        _, warm_window = _timed(window, device)  # a new input shape: compiled once more
        v, t_fwd = _timed(window, device, reps=args.reps)
        model.bank.clear()
    segment = t_ref + t_m2p + args.steps * step + decode
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return {"mode": mode, "compiled": compiled, "dtype": str(dtype).replace("torch.", ""),
            "window_forward_s": t_fwd, "segment_step_s": step, "reference_s": t_ref, "m2penc_window_s": t_m2p,
            "decode_segment_s": decode, "segment_s": segment, "warmup_s": warm + warm_window,
            "peak_mem_gib": peak,
            "v": v.float().cpu(), "shapes": {"latents": list(latents.shape), "guidance": list(guid.shape),
                                             "heatmaps": list(heat.shape), "v_cfg_batch": list(v.shape),
                                             "banks": len(base), "video": [latents.shape[2], cfg.size, cfg.size, 3]}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="full", choices=("full", "tiny", "micro"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps per segment (default: the config's)")
    ap.add_argument("--reps", type=int, default=2, help="timed repetitions after the warm-up")
    ap.add_argument("--modes", default="fp32-eager,bf16-sdpa-compile")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.config == "full" and device.type != "cuda":
        print("benchmarks/m2p.py: the full-size model needs a CUDA GPU (≈10 GB of fp32 weights, 512² video); "
              "use --config tiny for a dry run on CPU", file=sys.stderr)
        return 2
    from evalkit.models.m2p.config import get_config
    from evalkit.models.m2p.model import M2PModel

    cfg = get_config(args.config)
    args.steps = args.steps or cfg.steps
    torch.manual_seed(0)
    model = M2PModel(cfg).eval()
    g = torch.Generator().manual_seed(1)
    n = cfg.segment_frames
    inputs = {"music": np.random.default_rng(2).normal(size=(n, cfg.music_dim)).astype(np.float32),
              "ref": torch.rand(1, 3, cfg.size, cfg.size, generator=g) * 2 - 1,
              "z": torch.randn(1, 4, cfg.window, cfg.latent_size, cfg.latent_size, generator=g)}
    print(f"m2p {cfg.name}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, "
          f"{cfg.size}² video, 5-s segment = {n} frames at {cfg.fps:g} fps, window {cfg.window} "
          f"(overlap {cfg.overlap}), {args.steps} DDIM steps, CFG batch 2, device {device}")
    results = [run_mode(model, m.strip(), args, device, inputs) for m in args.modes.split(",") if m.strip()]
    print(json.dumps(results[0]["shapes"]))
    cols = ("window_forward_s", "segment_step_s", "reference_s", "decode_segment_s", "segment_s", "peak_mem_gib")
    print(f"{'mode':20s}" + "".join(f"{c:>18s}" for c in cols))
    for r in results:
        print(f"{r['mode']:20s}" + "".join(f"{r[c]:18.3f}" for c in cols))
    if len(results) == 2:
        a, b = results
        rel = float((a["v"] - b["v"]).norm() / a["v"].norm().clamp_min(1e-12))
        print(f"speed-up per segment: {a['segment_s'] / b['segment_s']:.2f}x (goal ≥ 3x); "
              f"per window forward: {a['window_forward_s'] / b['window_forward_s']:.2f}x; "
              f"relative difference of the v-prediction: {rel:.2e}")
    if args.out:
        args.out.write_text(json.dumps([{k: v for k, v in r.items() if k != "v"} for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
