"""AV-Align's optical flow: the torch Farneback (evalkit.features.flow_torch) against the reference way, a loop of
cv2.calcOpticalFlowFarneback calls (one thread), on the same grey frames, in one run; the flows must agree.

Frames: the three animate-x clips of ../shared/data/wild (552 pairs of 758x512) when present, else a generated
moving texture of the same size.

Run: uv run python benchmarks/flow.py [--device cuda] [--pairs N] [--batch B]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def grey_clips(pairs: int) -> list[np.ndarray]:
    from evalkit.features.flow import to_grey
    from evalkit.io.video import decode_video

    shared = Path(os.environ.get("EVALKIT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    paths = [shared / "data" / "wild" / f"animatex_dance_{i}.mp4" for i in (1, 2, 3)]
    if all(p.is_file() for p in paths):
        out = [to_grey(decode_video(p).frames) for p in paths]
    else:
        import cv2

        rng = np.random.default_rng(0)
        base = cv2.GaussianBlur(rng.integers(0, 256, (758, 1024), dtype=np.uint8), (0, 0), 2.0)
        out = [np.stack([base[:, s:s + 512] for s in np.cumsum(1 + (np.arange(200) % 5))])]
    left, clipped = pairs, []
    for g in out:  # the first `pairs` pairs over the clips
        if left <= 0:
            break
        clipped.append(g[:left + 1])
        left -= len(clipped[-1]) - 1
    return clipped


def main() -> None:
    import cv2
    import torch

    from evalkit.features.flow import pair_magnitudes
    from evalkit.features.flow_torch import mean_flow_magnitudes_torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--pairs", type=int, default=552)
    ap.add_argument("--batch", type=int, default=None, help="pairs per torch batch (default: the module's)")
    args = ap.parse_args()
    clips = grey_clips(args.pairs)
    n = sum(len(g) - 1 for g in clips)
    print(f"{n} pairs of {clips[0].shape[2]}x{clips[0].shape[1]} on {args.device}")

    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    ref = np.concatenate([pair_magnitudes(g) for g in clips])
    t_ref = time.perf_counter() - t0
    mean_flow_magnitudes_torch(clips[0][:3], device=args.device, batch=args.batch)  # warm-up (CUDA context, kernels)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    ours = np.concatenate([mean_flow_magnitudes_torch(g, device=args.device, batch=args.batch) for g in clips])
    t_ours = time.perf_counter() - t0
    diff = np.abs(ours - ref).max()
    print(f"cv2 loop, 1 thread: {t_ref:7.2f} s  ({1e3 * t_ref / n:6.1f} ms/pair)")
    print(f"torch on {args.device}: {t_ours:7.2f} s  ({1e3 * t_ours / n:6.1f} ms/pair)  ×{t_ref / t_ours:.1f}")
    print(f"largest |difference| of the per-pair mean magnitudes: {diff:.2e} px (flows bit-identical: summation "
          f"order of the float64 mean only)")
    if diff > 1e-9:
        raise SystemExit("the torch flow disagrees with cv2")


if __name__ == "__main__":
    main()
