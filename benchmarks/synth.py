"""SDGPip throughput: frames/s rendered (RGB + every guidance map), and end to end with encoding.

    uv run python benchmarks/synth.py                      # 256², 2 worker processes
    uv run python benchmarks/synth.py --workers 16 --clips 32

Reports (JSON on stdout):
  render_fps_1proc   frames/s of render_sequence (rgb, depth, normal, semantic, skeleton, heatmap) in one
                     process (1 torch/BLAS thread); render_frames_per_cpu_second: the same per CPU second
                     (what an unshared core gives);
  render_fps_workers frames/s with --workers processes rendering different clips at once (the goal:
                     >= 200 frames/s at 256² on 2 cores);
  pipeline_fps       frames/s of `generate` (music, motion, render, mp4/npz/pkl writing) with --workers.
CPU only: the renderer is numpy; on a GPU host, raise --workers to the core count.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def _motion(index: int, seconds: float, fps: float):
    from evalkit.data.synth.motion import Dancer, choreograph
    from evalkit.data.synth.music import beat_strength, synth_track
    from evalkit.data.synth.render import Identity

    rng = np.random.default_rng(index)
    track = synth_track(rng, seconds)
    dancer, identity = Dancer.random(rng), Identity.random(rng)
    motion = choreograph(track.beats, track.positions, beat_strength(track), seconds, fps, dancer, rng,
                         period=60.0 / track.bpm)
    return motion.joints, identity


def _render_clips(args) -> tuple[int, float, float]:
    """Render clips ``indices``; returns (frames, wall seconds, CPU seconds spent rendering, excluding set-up)."""
    indices, seconds, fps, size = args
    import torch

    torch.set_num_threads(1)
    from evalkit.data.synth.render import Camera, render_sequence

    clips = [_motion(i, seconds, fps) for i in indices]
    render_sequence(clips[0][0][:4], clips[0][1], Camera.default(size))  # warm-up (imports, caches)
    start, start_cpu = time.perf_counter(), time.process_time()
    frames = 0
    for joints, identity in clips:
        out = render_sequence(joints, identity, Camera.default(size))
        frames += out["rgb"].shape[0]
    return frames, time.perf_counter() - start, time.process_time() - start_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--clips", type=int, default=8, help="clips per measurement")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-pipeline", action="store_true")
    args = ap.parse_args()

    frames, secs, cpu = _render_clips((list(range(args.clips // 2 or 1)), args.seconds, args.fps, args.size))
    result = {"size": args.size, "fps": args.fps, "seconds_per_clip": args.seconds, "render_fps_1proc": frames / secs,
              # what one unshared core gives (the machine may be shared: wall-clock rates then drop)
              "render_frames_per_cpu_second": frames / cpu}

    ctx = multiprocessing.get_context("spawn")
    shards = [list(range(w, args.clips, args.workers)) for w in range(args.workers)]
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        list(pool.map(_render_clips, [([0], 1.0, args.fps, args.size)] * args.workers))  # start the workers
        start = time.perf_counter()
        done = list(pool.map(_render_clips, [(s, args.seconds, args.fps, args.size) for s in shards if s]))
        wall = time.perf_counter() - start
    # workers also build their motions before rendering; count only their render time, run in parallel
    result["render_fps_workers"] = sum(f for f, _, _ in done) / max(s for _, s, _ in done)
    result["render_wall_fps_workers"] = sum(f for f, _, _ in done) / wall
    result["workers"] = args.workers

    if not args.skip_pipeline:
        from evalkit.data.synth.pipeline import SynthConfig, generate

        out = tempfile.mkdtemp(prefix="sdgpip-bench-")
        try:
            shutil.rmtree(out)
            cfg = SynthConfig(train=args.clips, test=0, seconds=args.seconds, size=args.size, fps=args.fps, seed=1)
            start = time.perf_counter()
            manifest = generate(out, cfg, jobs=args.workers)
            wall = time.perf_counter() - start
            result["pipeline_fps"] = sum(c["num_frames"] for c in manifest["clips"]) / wall
            result["pipeline_bytes_per_frame"] = sum(
                f.stat().st_size for f in __import__("pathlib").Path(out).rglob("*") if f.is_file()
            ) / sum(c["num_frames"] for c in manifest["clips"])
        finally:
            shutil.rmtree(out, ignore_errors=True)
    result.update(cpu_count=os.cpu_count(), load_avg_1min=os.getloadavg()[0], machine=platform.processor() or platform.machine())
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}, indent=1))


if __name__ == "__main__":
    main()
