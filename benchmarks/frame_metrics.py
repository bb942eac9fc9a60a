"""`evalkit score` (SSIM+PSNR+L1+LPIPS) vs a DisCo-style per-frame scikit-image + `lpips` loop.

Same 256×256 clips, same preset definitions; prints both times, the ratio and the largest difference
between the two sets of numbers. Run: uv run python benchmarks/frame_metrics.py [--clips 8 --frames 32]
"""
from __future__ import annotations

import argparse
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


def reference_loop(root: Path) -> dict[str, float]:
    """DisCo-style: one frame at a time, scikit-image SSIM/PSNR, numpy L1, lpips.LPIPS batch 1 (clean preset)."""
    import lpips
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from evalkit.io.video import decode_video
    from evalkit.metrics.lpips import lpips_net

    model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    ours = lpips_net("alex", "cpu")  # same pinned trunk in the reference's slices
    model.net.load_state_dict({f"slice{k}.{n}": t for k, block in enumerate(ours.slices, 1)
                               for n, t in block.state_dict().items()})
    sums = {"ssim": 0.0, "psnr": 0.0, "l1": 0.0, "lpips": 0.0}
    n = 0
    for gt_path in sorted((root / "gt").glob("*.mp4")):
        gt = decode_video(gt_path).frames
        pred = decode_video(root / "pred" / gt_path.name).frames
        for p, g in zip(pred, gt):
            sums["ssim"] += structural_similarity(p, g, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                                  use_sample_covariance=False, data_range=255)
            sums["psnr"] += min(peak_signal_noise_ratio(g, p, data_range=255), 100.0)
            sums["l1"] += np.abs(p.astype(np.float64) - g.astype(np.float64)).mean() / 255.0
            tp = torch.from_numpy(p).permute(2, 0, 1)[None].float() / 127.5 - 1
            tg = torch.from_numpy(g).permute(2, 0, 1)[None].float() / 127.5 - 1
            with torch.no_grad():
                sums["lpips"] += model(tp, tg).item()
            n += 1
    return {k: v / n for k, v in sums.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="evalkit's device (the reference loop always runs on CPU)")
    args = ap.parse_args()

    import evalkit

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_workload(root, args.clips, args.frames, args.size)
        evalkit.score(root / "pred", root / "gt", metrics=["lpips"], jobs=1, device=args.device)  # warm-up
        t0 = time.perf_counter()
        df = evalkit.score(root / "pred", root / "gt", metrics=["ssim", "psnr", "l1", "lpips"], jobs=args.jobs,
                           device=args.device)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = reference_loop(root)
        t_ref = time.perf_counter() - t0
    ours = dict(zip(df["metric"], df["value"]))
    frames = args.clips * args.frames
    print(f"workload: {args.clips} clips × {args.frames} frames, {args.size}², {torch.get_num_threads()} torch threads")
    print(f"{'metric':8s} {'evalkit':>14s} {'reference':>14s} {'|diff|':>10s}")
    for k in ref:
        print(f"{k:8s} {ours[k]:14.8f} {ref[k]:14.8f} {abs(ours[k] - ref[k]):10.2e}")
    print(f"evalkit score ({args.device}, jobs={args.jobs}): {t_ours:7.2f} s  ({frames / t_ours:6.1f} frames/s)")
    print(f"reference loop:          {t_ref:7.2f} s  ({frames / t_ref:6.1f} frames/s)")
    print(f"speed-up: {t_ref / t_ours:.2f}x   largest |diff|: {max(abs(ours[k] - ref[k]) for k in ref):.2e}")


if __name__ == "__main__":
    main()
