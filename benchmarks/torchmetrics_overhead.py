"""What the torchmetrics adapters add per video over the evalkit metric they wrap.

Each ``update`` scores its video from a zeroed evalkit state and adds the state change to the torch states, so
the adapter's extra cost is one reset, one copy and one addition of the metric's state per video. That is
nothing for the frame metrics (two scalars) and the size of FVD's sums for FVD: 2 sides × (D² + B·D(D+1)/2)
float64 (128 MB at D=400, B=100). To time the bookkeeping and not I3D, FVD runs here with a stand-in extractor
of I3D's width (D=400). The machine's load average is printed with the figures.
Run: uv run python benchmarks/torchmetrics_overhead.py [--videos 4 --bootstrap 100 --rounds 3]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


class WideFeatures:
    """I3D's output width (400) from a fixed subsample of the clip: cheap, so the state bookkeeping shows."""

    dim = 400
    info = {"name": "wide-stand-in"}

    def __call__(self, x):
        return x[:, :, :, ::16, ::16].reshape(len(x), -1)[:, :400].float()


def per_video(fn, pairs) -> float:
    start = time.perf_counter()
    for pred, gt in pairs:
        fn(pred, gt)
    return (time.perf_counter() - start) / len(pairs) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from evalkit.io.item import ScoreItem
    from evalkit.io.video import Video
    from evalkit.metrics import build
    from evalkit.torchmetrics import FVD, PSNR, SSIM

    rng = np.random.default_rng(0)
    pairs = [tuple(rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8) for _ in range(2)) for _ in range(args.videos)]
    cases = {
        "ssim": (SSIM(), build("ssim", "clean")),
        "psnr": (PSNR(), build("psnr", "clean")),
        "fvd": (FVD(extractor=WideFeatures(), bootstrap=args.bootstrap),
                build("fvd", "tf", extractor=WideFeatures(), bootstrap=args.bootstrap, cache=False)),
    }
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    for name, (adapter, metric) in cases.items():
        def direct(pred, gt, metric=metric):
            metric.update(ScoreItem("v", Video(pred, 0.0, None), Video(gt, 0.0, None)))
            metric.state_dict()  # FVD queues clips: flush them per video, as the adapter does

        per_video(adapter.update, pairs[:1])  # warm-up: first calls, allocations
        per_video(direct, pairs[:1])
        # alternating rounds, the fastest of each: other jobs on a shared machine only ever add time
        rounds = [(per_video(direct, pairs), per_video(adapter.update, pairs)) for _ in range(args.rounds)]
        alone, wrapped = (min(times) for times in zip(*rounds))
        print(f"{name}: adapter {wrapped:.0f} ms/video, evalkit metric {alone:.0f} ms/video, "
              f"overhead {wrapped - alone:.0f} ms/video")


if __name__ == "__main__":
    main()
