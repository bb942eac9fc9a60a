"""`evalkit score` (SSIM+PSNR+L1+LPIPS) vs a DisCo-style per-frame scikit-image + `lpips` loop.

Same 256×256 clips, same preset definitions; prints both times, the ratio and the largest difference
between the two sets of numbers, then each metric timed alone on frames decoded beforehand (evalkit's
streaming update in this process vs the reference function frame by frame) and the ceiling that the
LPIPS network sets. Both sides are warmed up first (imports, evalkit's network, the reference's
`lpips.LPIPS` model). The machine's load average is printed with the figures: on a shared 2-core machine
other jobs' load changes them a lot. Run: uv run python benchmarks/frame_metrics.py [--clips 8 --frames 32]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_workload(root: Path, clips: int, frames: int, size: int) -> None:
    """Smooth textured clips with moving content; pred = gt shifted + noise (neither identical nor unrelated)."""
    from evalkit.io.video import write_video

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for c in range(clips):
        f = rng.uniform(2, 8, size=(3, 2))
        gt = []
        for t in range(frames):
            phase = t * 0.15
            img = np.stack([127 + 100 * np.sin(2 * np.pi * (f[k, 0] * xx + f[k, 1] * yy) + phase + k) for k in range(3)], -1)
            gt.append(img)
        gt = np.clip(np.stack(gt), 0, 255).astype(np.uint8)
        pred = np.clip(np.roll(gt, 2, axis=2) + rng.normal(0, 12, gt.shape), 0, 255).astype(np.uint8)
        write_video(root / "gt" / f"clip{c:02d}.mp4", gt, 30)
        write_video(root / "pred" / f"clip{c:02d}.mp4", pred, 30)


def reference_functions(model) -> dict:
    """The reference per-frame functions, `clean` preset: scikit-image SSIM/PSNR, numpy L1, lpips.LPIPS batch 1."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    def lpips_one(p, g):
        tp = torch.from_numpy(p).permute(2, 0, 1)[None].float() / 127.5 - 1
        tg = torch.from_numpy(g).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            return model(tp, tg).item()

    return {
        "ssim": lambda p, g: structural_similarity(p, g, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                                   use_sample_covariance=False, data_range=255),
        "psnr": lambda p, g: min(peak_signal_noise_ratio(g, p, data_range=255), 100.0),
        "l1": lambda p, g: np.abs(p.astype(np.float64) - g.astype(np.float64)).mean() / 255.0,
        "lpips": lpips_one,
    }


def reference_model():
    """lpips.LPIPS(net='alex', version='0.1') with evalkit's pinned trunk loaded into its slices."""
    import lpips

    from evalkit.metrics.lpips import lpips_net

    model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    ours = lpips_net("alex", "cpu")  # same pinned trunk in the reference's slices
    model.net.load_state_dict({f"slice{k}.{n}": t for k, block in enumerate(ours.slices, 1)
                               for n, t in block.state_dict().items()})
    return model


def reference_loop(root: Path, functions: dict) -> dict[str, float]:
    """DisCo-style: decode a pair, then one frame at a time through every metric."""
    from evalkit.io.video import decode_video

    sums = dict.fromkeys(functions, 0.0)
    n = 0
    for gt_path in sorted((root / "gt").glob("*.mp4")):
        gt = decode_video(gt_path).frames
        pred = decode_video(root / "pred" / gt_path.name).frames
        for p, g in zip(pred, gt):
            for name, fn in functions.items():
                sums[name] += fn(p, g)
            n += 1
    return {k: v / n for k, v in sums.items()}


def per_metric(root: Path, functions: dict, device: str, repeat: int) -> tuple[float, list[tuple]]:
    """Decode time, and (metric, evalkit s, reference s, evalkit value, reference value) for each metric alone,
    each side's best of ``repeat``."""
    from evalkit.io.item import ScoreItem
    from evalkit.io.video import decode_video
    from evalkit.metrics import build

    t0 = time.perf_counter()
    pairs = [(decode_video(root / "pred" / p.name), decode_video(p)) for p in sorted((root / "gt").glob("*.mp4"))]
    t_decode = time.perf_counter() - t0
    rows = []
    for name, fn in functions.items():
        t_ours = t_ref = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            metric = build(name, "clean", device)
            for pred, gt in pairs:
                metric.update(ScoreItem(pred.path.stem, pred, gt))
            ours = metric.compute()[name]
            t_ours = min(t_ours, time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = float(np.mean([fn(p, g) for pred, gt in pairs for p, g in zip(pred.frames, gt.frames)]))
            t_ref = min(t_ref, time.perf_counter() - t0)
        rows.append((name, t_ours, t_ref, ours, ref))
    return t_decode, rows


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="evalkit's device (the reference loop always runs on CPU)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each side this many times, alternating, and keep each side's best (per-metric too)")
    ap.add_argument("--no-per-metric", dest="per_metric", action="store_false", help="skip the per-metric table")
    args = ap.parse_args()

    import evalkit

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_workload(root, args.clips, args.frames, args.size)
        print(f"workload: {args.clips} clips × {args.frames} frames, {args.size}², "
              f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs; {load()}", flush=True)
        evalkit.score(root / "pred", root / "gt", metrics=["lpips"], jobs=1, device=args.device)  # warm-up
        functions = reference_functions(reference_model())  # warm-up: imports and the reference's model
        t_ours = t_ref = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            df = evalkit.score(root / "pred", root / "gt", metrics=["ssim", "psnr", "l1", "lpips"], jobs=args.jobs,
                               device=args.device)
            t_ours = min(t_ours, time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = reference_loop(root, functions)
            t_ref = min(t_ref, time.perf_counter() - t0)
        ours = dict(zip(df["metric"], df["value"]))
        frames = args.clips * args.frames
        print(f"{'metric':8s} {'evalkit':>14s} {'reference':>14s} {'|diff|':>10s}")
        for k in ref:
            print(f"{k:8s} {ours[k]:14.8f} {ref[k]:14.8f} {abs(ours[k] - ref[k]):10.2e}")
        print(f"evalkit score ({args.device}, jobs={args.jobs}): {t_ours:7.2f} s  ({frames / t_ours:6.1f} frames/s)")
        print(f"reference loop:          {t_ref:7.2f} s  ({frames / t_ref:6.1f} frames/s)")
        print(f"speed-up: {t_ref / t_ours:.2f}x   largest |diff|: {max(abs(ours[k] - ref[k]) for k in ref):.2e}   "
              f"({load()})", flush=True)
        if not args.per_metric:
            return
        t_decode, rows = per_metric(root, functions, args.device, args.repeat)
        print(f"\neach metric alone on decoded frames ({args.device}; decoding all pairs: {t_decode:.2f} s, "
              f"the same code on both sides)")
        print(f"{'metric':8s} {'evalkit s':>10s} {'reference s':>12s} {'ratio':>7s} {'|diff|':>10s}")
        for name, t_o, t_r, v_o, v_r in rows:
            print(f"{name:8s} {t_o:10.3f} {t_r:12.3f} {t_r / t_o:6.2f}x {abs(v_o - v_r):10.2e}")
        t_lpips = next(t_o for name, t_o, *_ in rows if name == "lpips")
        print(f"ceiling: were SSIM, PSNR, L1 and decoding free, evalkit would still spend {t_lpips:.2f} s on the "
              f"LPIPS network, so the speed-up could not pass {t_ref / t_lpips:.2f}x ({load()})")


if __name__ == "__main__":
    main()
