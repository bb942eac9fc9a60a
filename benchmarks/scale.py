"""End-to-end `evalkit score` throughput with every metric, against the sum of single-metric runs and
against decode-only throughput; optionally on N GPUs, from one process or through torchrun (same numbers).

Workload (default): 20 SDGPip clips × 20 s, 512², 30 fps, with music (sidecar wav) and keypoint
sidecars (the `keypoints` pose backend, so BeatAlign needs no pose network). Predictions are other
dancers' clips under the ground truth's names.

    uv run python benchmarks/scale.py --clips 4 --seconds 4 --size 256         # CPU smoke run
    python benchmarks/scale.py --device cuda --gpus 1 2 --jobs 8 --trace        # H200 host, with the phases
    python benchmarks/scale.py --device cuda --gpus 1 2 --launch inprocess torchrun   # both ways to use 2 GPUs
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ALL = ["ssim", "psnr", "l1", "lpips", "fvd", "beat_align", "av_align"]


def make_workload(root: Path, clips: int, seconds: float, size: int, fps: float, jobs: int) -> tuple[Path, Path]:
    gt, pred = root / "gt", root / "pred"
    if gt.is_dir() and len(list(gt.glob("*.mp4"))) == clips:  # made by an earlier run with this --workdir
        return pred, gt
    from evalkit.data.registry import get_split
    from evalkit.data.synth.pipeline import SynthConfig, generate

    generate(root / "synth", SynthConfig(train=0, test=2 * clips, seconds=seconds, size=size, fps=fps,
                                         maps=("rgb",), lossless=False), jobs=jobs)
    samples = list(get_split("synth", "test", root=root / "synth"))
    gt.mkdir(), pred.mkdir()
    for g, p in zip(samples[:clips], samples[clips:2 * clips]):
        shutil.copy(g.video, gt / f"{g.id}.mp4")
        shutil.copy(p.video, pred / f"{g.id}.mp4")  # another dancer, under the gt's name
        shutil.copy(p.music, pred / f"{g.id}{Path(p.music).suffix}")  # its own music as sidecar
        np.save(pred / f"{g.id}.npy", p.joints2d)  # keypoint sidecar for the keypoints pose backend
    return pred, gt


def decode_only(pred: Path, gt: Path, jobs: int) -> tuple[float, int]:
    import concurrent.futures as cf
    import multiprocessing as mp

    files = sorted(pred.glob("*.mp4")) + sorted(gt.glob("*.mp4"))
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        frames = sum(pool.map(_count, files))
    return time.perf_counter() - t0, frames


def _count(path) -> int:
    from evalkit.io.video import decode_video

    return decode_video(path).num_frames


def score_cli(pred, gt, metrics, device, jobs, gpus, out, trace_dir=None, launch="inprocess") -> tuple[float, dict]:
    """One `evalkit score` run; several GPUs either from one process (``--device cuda:0,1``, ``jobs`` workers
    per GPU) or under torchrun (one scoring process per GPU with ``jobs`` workers each)."""
    if gpus > 1 and launch == "inprocess":
        device, jobs = "cuda:" + ",".join(str(i) for i in range(gpus)), jobs * gpus
    args = ["score", "--pred", str(pred), "--gt", str(gt), "--metrics", ",".join(metrics), "--device", device,
            "--jobs", str(jobs), "--out", str(out), "--format", "csv",
            "--opt", "beat_align.pose=keypoints", "--opt", "fvd.batch_size=64",
            "--opt", "fvd.cache=false"]  # every run extracts its I3D features: a later run must not read an earlier's
    env = {**os.environ, "NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
    if trace_dir is not None:
        Path(trace_dir).mkdir(parents=True, exist_ok=True)
        env["EVALKIT_TRACE"] = str(trace_dir)
    if gpus > 1 and launch == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(gpus), "-m", "evalkit", *args]
    else:
        cmd = [sys.executable, "-m", "evalkit", *args]
    t0, wall0 = time.perf_counter(), time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"score failed ({' '.join(metrics)}):\n{proc.stderr[-3000:]}")
    if trace_dir is not None:
        from phases import report

        print(report(trace_dir, wall0, elapsed))
    record = json.loads((Path(out) / "results.json").read_text())
    return elapsed, {f"{r['metric']}:{r['column']}": r["value"] for r in record["aggregate"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 2), help="workers per GPU")
    ap.add_argument("--gpus", type=int, nargs="+", default=[1])
    ap.add_argument("--launch", nargs="+", default=["inprocess"], choices=["inprocess", "torchrun"],
                    help="several GPUs from one process (--device cuda:0,1) and/or under torchrun")
    ap.add_argument("--metrics", default=",".join(ALL))
    ap.add_argument("--singles", action="store_true", help="also time each metric alone (sum of single runs)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--trace", action="store_true", help="print where each run's seconds go (EVALKIT_TRACE)")
    args = ap.parse_args()
    metrics = args.metrics.split(",")

    root = Path(args.workdir or tempfile.mkdtemp(prefix="evalkit-scale-"))
    t0 = time.perf_counter()
    pred, gt = make_workload(root, args.clips, args.seconds, args.size, args.fps, args.jobs)
    print(f"workload: {args.clips} pairs × {args.seconds:g} s, {args.size}², {args.fps:g} fps "
          f"(made in {time.perf_counter() - t0:.1f} s) in {root}")
    t_dec, frames = decode_only(pred, gt, args.jobs)  # also puts the videos in the page cache for every run
    print(f"decode only ({args.jobs} workers): {t_dec:.1f} s, {frames / t_dec:.0f} frames/s ({frames} frames)")
    if "beat_align" in metrics or "av_align" in metrics:
        from evalkit.audio.beats import warm_up_jit

        t_jit = time.perf_counter()
        warm_up_jit()  # librosa's numba kernels into the on-disk cache, so no timed run pays a cold compile
        print(f"numba warm-up: {time.perf_counter() - t_jit:.1f} s (not in any timed run)")
    rows = []
    runs = [(g, launch) for g in args.gpus for launch in (args.launch if g > 1 else ["inprocess"])]
    for gpus, launch in runs:
        label = f"{gpus} GPU(s)" + (f", {launch}" if gpus > 1 else "")
        trace_dir = root / f"trace-{gpus}-{launch}" if args.trace else None
        if trace_dir is not None:
            shutil.rmtree(trace_dir, ignore_errors=True)
        t_all, values = score_cli(pred, gt, metrics, args.device, args.jobs, gpus, root / f"all-{gpus}-{launch}",
                                  trace_dir, launch)
        rows.append((label, t_all, values))
        print(f"all metrics, {label}: {t_all:.1f} s = {frames / t_all:.0f} frames/s "
              f"({100 * (frames / t_all) / (frames / t_dec):.0f}% of the decode-only rate)")
    if len(rows) > 1:
        base = rows[0]
        for label, t, values in rows[1:]:
            worst = max(abs(values[k] - base[2][k]) for k in base[2] if np.isfinite(base[2][k]))
            print(f"speed-up {label} vs {base[0]}: {base[1] / t:.2f}x; largest |difference| of the numbers {worst:.2e}")
    if args.singles:
        total = 0.0
        for m in metrics:
            t, _ = score_cli(pred, gt, [m], args.device, args.jobs, 1, root / f"single-{m}")
            total += t
            print(f"  {m:10s} alone: {t:7.1f} s")
        print(f"sum of single-metric runs: {total:.1f} s; all together: {rows[0][1]:.1f} s "
              f"({total / rows[0][1]:.2f}x from one decode)")
    print("values:", json.dumps({k: round(v, 6) for k, v in rows[0][2].items()}))


if __name__ == "__main__":
    main()
