"""FVD throughput: I3D features and the whole statistics pipeline.

1. Features: clips/s of 16x224x224 clips through I3D — an eager fp32 batch-1 loop (unfolded BN, NCDHW,
   one clip at a time, logits copied to the host per clip: the straightforward port) vs evalkit's
   batched no-grad extractor in fp32 (reference), tf32 and bf16, channels-last on CUDA, optionally
   torch.compile'd. Each fast mode's largest |logit difference| to the fp32 reference is printed.
2. Pipeline: clips/s of decode-only (PyAV in DataLoader workers, frames handed to the main process)
   vs end to end (same workers, then resize, I3D, float64 statistics with bootstrap sums: exactly what
   ``evalkit stats make`` runs) on synthetic H.264 videos (or --video-dir).

    uv run python benchmarks/fvd.py --device cuda --compile                 # H200: the real figures
    uv run python benchmarks/fvd.py --device cpu --clips 2 --batch 2 --loop-clips 1 \\
        --videos 4 --frames 32 --size 64 --workers 2                        # CPU smoke run (tiny)

Goals (issue 3): >= 1500 clips/s of features on an H200, end to end >= 80 % of the decode-only rate.
Prints a table and, last, one JSON line with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_batched(extractor, x: torch.Tensor, total: int, warmup: int = 3) -> float:
    """clips/s of repeated batched calls on a device-resident batch."""
    for _ in range(warmup):
        extractor(x)
    sync(x.device)
    start, done = time.perf_counter(), 0
    while done < total:
        extractor(x)
        done += x.shape[0]
    sync(x.device)
    return done / (time.perf_counter() - start)


def time_loop(model, clips: torch.Tensor) -> float:
    """clips/s of the eager fp32 batch-1 loop (logits to the host per clip, as a simple script does)."""
    with torch.no_grad():
        model(clips[:1]).cpu()
        sync(clips.device)
        start = time.perf_counter()
        for i in range(clips.shape[0]):
            model(clips[i:i + 1]).cpu()
    return clips.shape[0] / (time.perf_counter() - start)


def feature_rates(args, device: torch.device) -> dict:
    from evalkit.features.i3d import I3DFeatures, load_i3d

    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 16, 224, 224, device=device) * 2 - 1
    out = {}
    eager, _ = load_i3d(device, fold_bn=False)
    out["loop_fp32_b1"] = time_loop(eager, x[:args.loop_clips].contiguous())
    with torch.no_grad():
        default = eager(x[:4]).float()  # torch's defaults: cuDNN convolutions may use TF32
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            reference = eager(x[:4]).float()  # IEEE float32: the reference the fast modes are compared with
    out["loop_fp32_b1_max_abs_dlogit"] = float((default - reference).abs().max())  # what torch's TF32 default does
    # (precision, torch.compile, fused pointwise convs); fused is the default of tf32/bf16
    modes = [("fp32", False, False), ("tf32", False, False), ("tf32", False, True), ("bf16", False, False),
             ("bf16", False, True)]
    if args.compile:
        modes += [("fp32", True, False), ("bf16", True, True)]
    for precision, compiled, fuse in modes:
        if precision == "tf32" and device.type != "cuda":
            continue
        name = f"batched_{precision}" + ("_fused" if fuse else "") + ("_compiled" if compiled else "")
        try:
            extractor = I3DFeatures(device, precision, compile=compiled, fuse=fuse)
            out[name] = time_batched(extractor, x, args.clips)
            out[f"{name}_max_abs_dlogit"] = float((extractor(x[:4]) - reference).abs().max())
            del extractor
        except Exception as err:  # a failing torch.compile must not hide the other figures
            out[f"{name}_error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            if compiled:
                args.compile = False  # end to end then runs eager
    return out


def make_videos(root: Path, n: int, frames: int, size: int) -> list[Path]:
    """Moving colour patterns with noise, H.264 (CRF 18) at 25 fps."""
    from evalkit.io.video import write_video

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    paths = []
    for v in range(n):
        f = rng.uniform(1, 6, size=(3, 2))
        t = np.arange(frames)[:, None, None] * 0.2
        img = np.stack([127 + 90 * np.sin(2 * np.pi * (f[k, 0] * xx + f[k, 1] * yy) + t + k) for k in range(3)], -1)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        paths.append(write_video(root / f"v{v:04d}.mp4", img, 25))
    return paths


def pipeline_rates(args, device: torch.device, paths: list[Path]) -> dict:
    from evalkit.cli.stats import VideoFiles, _worker_init, feed_videos
    from evalkit.features.i3d import I3DFeatures
    from evalkit.metrics.fvd import FVD

    probe = FVD(args.protocol)
    clips_per = {}

    def count(item) -> int:
        return len(probe.plan("gt", int(item["shape"][0]), item["content_id"]))

    loader = torch.utils.data.DataLoader(VideoFiles(paths, probe.settings["resize"]), batch_size=None,
                                         num_workers=args.workers, pin_memory=device.type == "cuda",
                                         worker_init_fn=_worker_init if args.workers else None,
                                         prefetch_factor=4 if args.workers else None)
    start, n_clips = time.perf_counter(), 0
    for item in loader:
        clips_per[item["path"]] = count(item)
        n_clips += clips_per[item["path"]]
    out = {"clips": n_clips, "decode_only": n_clips / (time.perf_counter() - start)}
    stats = {}
    for precision in args.e2e_precision:
        extractor = I3DFeatures(device, precision, compile=args.compile)
        # an untimed pass first: cuDNN autotuning and compilation see every batch shape, the last one too
        warm = FVD(args.protocol, device=str(device), extractor=extractor, batch_size=args.batch, cache=False,
                   precision=precision)
        feed_videos(warm, paths, "gt", args.workers)
        del warm
        metric = FVD(args.protocol, device=str(device), extractor=extractor, batch_size=args.batch, cache=False,
                     precision=precision)
        sync(device)
        start = time.perf_counter()
        feed_videos(metric, paths, "gt", args.workers)
        metric.num_clips("gt")  # settles: every queued clip through I3D, the device sums synced
        sync(device)
        out[f"end_to_end_{precision}"] = metric.num_clips("gt") / (time.perf_counter() - start)
        sums = metric.side_sums("gt")
        n = float(sums["n"])
        mu = sums["sum"] / n
        stats[precision] = (mu, (sums["outer"] - n * np.outer(mu, mu)) / (n - 1))
        start = time.perf_counter()
        save_path = Path(tempfile.mkdtemp()) / "stats.npz"
        from evalkit.metrics.fvd_stats import save_stats

        save_stats(save_path, metric, "gt")
        out[f"save_stats_s_{precision}"] = time.perf_counter() - start
        shutil.rmtree(save_path.parent)
    if "fp32" in stats and len(stats) > 1:  # what a faster precision alone does to FVD: same videos, FD(fast, fp32)
        from evalkit.metrics.frechet import frechet_distance

        for precision in stats:
            if precision != "fp32":
                fd = frechet_distance(*stats[precision], *stats["fp32"])["fd"]
                out[f"fvd_{precision}_vs_fp32_same_videos"] = fd
    return out


def main() -> None:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--batch", type=int, default=128 if cuda else 2, help="clips per I3D batch")
    p.add_argument("--clips", type=int, default=4096 if cuda else 2, help="clips timed per batched mode")
    p.add_argument("--loop-clips", type=int, default=64 if cuda else 1, help="clips timed in the batch-1 loop")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile'd extractors (and use them end to end)")
    p.add_argument("--videos", type=int, default=256 if cuda else 4, help="synthetic videos for the pipeline")
    p.add_argument("--frames", type=int, default=64 if cuda else 32)
    p.add_argument("--size", type=int, default=256 if cuda else 64)
    p.add_argument("--video-dir", type=Path, help="use these videos instead of synthetic ones")
    p.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 2), help="decoding worker processes")
    p.add_argument("--protocol", default="tf")
    p.add_argument("--e2e-precision", nargs="+", default=["bf16", "fp32"] if cuda else ["fp32"])
    p.add_argument("--skip-features", action="store_true")
    p.add_argument("--skip-pipeline", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 2)))

    results = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "torch": torch.__version__, "batch": args.batch, "protocol": args.protocol}
    if not args.skip_features:
        results.update(feature_rates(args, device))
    if not args.skip_pipeline:
        tmp = None
        if args.video_dir:
            from evalkit.io.pairing import list_videos

            paths = list(list_videos(args.video_dir).values())
        else:
            tmp = Path(tempfile.mkdtemp(prefix="fvd-bench-"))
            paths = make_videos(tmp, args.videos, args.frames, args.size)
        try:
            results.update(pipeline_rates(args, device, paths))
        finally:
            if tmp:
                shutil.rmtree(tmp)

    print(f"FVD benchmark on {results['device']} (torch {results['torch']}), batch {args.batch}")
    rows = [(k, v) for k, v in results.items()
            if k.startswith(("loop_", "batched_")) and not k.endswith(("dlogit", "_error"))]
    for k, v in results.items():
        if k.endswith("_error"):
            print(f"{k}: {v}")
    if rows:
        base = results["loop_fp32_b1"]
        print(f"{'I3D features, 16x224x224':34s} {'clips/s':>10s} {'x loop':>8s} {'max|dlogit|':>12s}")
        for k, v in rows:
            d = results.get(f"{k}_max_abs_dlogit")
            print(f"{k:34s} {v:10.1f} {v / base:8.1f} {'' if d is None else f'{d:12.2e}'}")
    if "decode_only" in results:
        title = f"pipeline ({args.protocol}, {results['clips']} clips)"
        print(f"{title:34s} {'clips/s':>10s} {'% decode':>8s}")
        print(f"{'decode only':34s} {results['decode_only']:10.1f} {100.0:8.1f}")
        for k, v in results.items():
            if k.startswith("end_to_end_"):
                print(f"{k:34s} {v:10.1f} {100 * v / results['decode_only']:8.1f}")
        for k, v in results.items():
            if k.endswith("_same_videos"):
                print(f"{k:34s} {v:10.4f}  (FD between the two precisions' statistics of the same clips)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
