"""Music–motion sync throughput: AV-Align and pose extraction, parallel vs a sequential single-process loop.

AV-Align's cost is Farneback flow; evalkit splits each video's frame pairs over worker processes (or threads)
and must give the very same numbers. Pose extraction runs one video per worker process (extract_many).
Both are timed against the plain loop on the same decoded clips, and the outputs are compared exactly.
Pose extraction cannot split one video (VIDEO-mode tracking sees its frames in order), so 3 clips on 2
workers would cap at ×1.5, and each worker's start (spawn, MediaPipe import) is ~1.7 s; its workload is the 3
clips and their mirrored, time-reversed and mirrored+reversed versions (12 videos, 2220 frames, written once to
a temporary folder), as a directory of many videos is in real use.

Run: uv run python benchmarks/sync.py [--workers N] [--skip-av] [--skip-pose] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def clips(shared: Path) -> list[Path]:
    return [shared / "data" / "wild" / f"animatex_dance_{i}.mp4" for i in (1, 2, 3)]


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_av_align(paths: list[Path], workers: int) -> dict:
    import numpy as np

    from evalkit.features.flow import shutdown_pools
    from evalkit.io.audio import audio_for_video
    from evalkit.io.video import decode_video
    from evalkit.metrics.av_align import av_align

    videos = [decode_video(p) for p in paths]
    audios = [audio_for_video(p) for p in paths]
    frames = sum(v.num_frames for v in videos)
    av_align(videos[0].frames[:2], videos[0].fps, audios[0], workers=1)  # librosa/numba warm-up, untimed

    def run(**kw):
        # CPU seconds too: on a machine shared with other jobs the wall-clock speed-up understates what free
        # cores give, while equal CPU seconds show the parallel path adds no work
        t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
        res = [av_align(v.frames, v.fps, a, **kw) for v, a in zip(videos, audios)]
        wall = time.perf_counter() - t0
        shutdown_pools()  # reap the worker processes so their CPU time is counted (and the next run starts cold)
        return wall, time.process_time() - c0 + _children_cpu() - k0, res

    out = {"frames": frames, "workers": workers, "clips": {}}
    t_seq, cpu_seq, seq = run(workers=1)
    out["sequential_s"], out["sequential_cpu_s"] = t_seq, cpu_seq
    for executor in ("processes", "threads"):
        t_par, cpu_par, par = run(workers=workers, executor=executor)  # includes starting the pool
        same = all(np.array_equal(a["trajectory"], b["trajectory"]) and a["iou"] == b["iou"] for a, b in zip(seq, par))
        out[executor] = {"seconds": t_par, "cpu_s": cpu_par, "speedup": t_seq / t_par, "identical": same}
    for p, r in zip(paths, seq):
        out["clips"][p.name] = {"iou": r["iou"], "audio_peaks": len(r["audio_peaks"]),
                                "video_peaks": len(r["video_peaks"]), "matched": r["matched"]}
    return out


def variants(paths: list[Path], folder: Path) -> list[Path]:
    """Mirrored, time-reversed and mirrored+reversed versions of the clips (same frame rate, H.264 crf 18):
    other videos of the same lengths, so the workload is balanced."""
    import numpy as np

    from evalkit.io.video import decode_video, write_video

    out = []
    for p in paths:
        v = decode_video(p)
        for name, frames in (("mirror", v.frames[:, :, ::-1]), ("reverse", v.frames[::-1]),
                             ("mirror_reverse", v.frames[::-1, :, ::-1])):
            out.append(write_video(folder / f"{p.stem}_{name}.mp4", np.ascontiguousarray(frames), v.fps))
    return out


def bench_pose(paths: list[Path], workers: int, model: Path | None) -> dict:
    import numpy as np

    from evalkit.io.video import decode_video
    from evalkit.pose import extract, extract_many

    settings = {"model": str(model)} if model else {}
    frames = sum(decode_video(p).num_frames for p in paths)
    t0, c0 = time.perf_counter(), time.process_time()
    seq = [extract(p, cache=False, **settings) for p in paths]
    t_seq, cpu_seq = time.perf_counter() - t0, time.process_time() - c0
    t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    par = extract_many(paths, jobs=workers, cache=False, **settings)  # its pool is joined on return
    t_par, cpu_par = time.perf_counter() - t0, time.process_time() - c0 + _children_cpu() - k0
    same = all(np.array_equal(a.joints, b.joints, equal_nan=True) and np.array_equal(a.conf, b.conf)
               for a, b in zip(seq, par))
    found = {p.name: float(t.present.mean()) for p, t in zip(paths, seq)}
    return {"frames": frames, "workers": min(workers, len(paths)), "sequential_s": t_seq, "parallel_s": t_par,
            "sequential_cpu_s": cpu_seq, "parallel_cpu_s": cpu_par,
            "speedup": t_seq / t_par, "identical": same, "person_found": found}


def main() -> None:
    from evalkit.features.flow import default_workers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("EVALKIT_SHARED", "../shared")))
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--skip-av", action="store_true")
    ap.add_argument("--skip-pose", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    paths = clips(args.shared)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"benchmark clips not found: {missing[0]} (pass --shared or set EVALKIT_SHARED)")
    result = {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    if not args.skip_av:
        _print_av(result.setdefault("av_align", bench_av_align(paths, args.workers)), args.workers)
    if not args.skip_pose:
        import tempfile

        model = args.shared / "weights" / "pose" / "pose_landmarker_full.task"
        with tempfile.TemporaryDirectory() as tmp:
            videos = paths + variants(paths, Path(tmp))
            pose = result["pose"] = bench_pose(videos, args.workers, model if model.is_file() else None)
        print(f"Pose extraction (blazepose), {pose['frames']} frames (3 clips + mirrored/reversed versions), "
              f"{pose['workers']} workers:")
        n = pose["frames"]
        print(f"  sequential loop      {pose['sequential_s']:7.1f} s  {n / pose['sequential_s']:6.1f} frames/s  "
              f"CPU {pose['sequential_cpu_s']:.1f} s")
        print(f"  extract_many         {pose['parallel_s']:7.1f} s  {n / pose['parallel_s']:6.1f} frames/s  "
              f"CPU {pose['parallel_cpu_s']:.1f} s  ×{pose['speedup']:.2f}  identical={pose['identical']}")
        print("  person found in: " + ", ".join(f"{k} {v:.1%}" for k, v in pose["person_found"].items()
                                                if k in {p.name for p in paths}))
    result["load_avg_end"] = os.getloadavg()[0]
    print(f"load average (1 min) at start / end: {result['load_avg_start']:.1f} / {result['load_avg_end']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


def _print_av(av: dict, workers: int) -> None:
    print(f"AV-Align, {av['frames']} frames of 758×512 (3 clips), {workers} workers:")
    print(f"  sequential loop      {av['sequential_s']:7.1f} s  {av['frames'] / av['sequential_s']:6.1f} frames/s  "
          f"CPU {av['sequential_cpu_s']:.1f} s")
    for ex in ("processes", "threads"):
        r = av[ex]
        print(f"  parallel {ex:<11} {r['seconds']:7.1f} s  {av['frames'] / r['seconds']:6.1f} frames/s  "
              f"CPU {r['cpu_s']:.1f} s  ×{r['speedup']:.2f}  identical={r['identical']}")
    for name, c in av["clips"].items():
        print(f"  {name}: IoU {c['iou']:.12f}  ({c['audio_peaks']} audio / {c['video_peaks']} video peaks, "
              f"{c['matched']} matched)")


if __name__ == "__main__":
    main()
