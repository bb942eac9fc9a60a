"""Where the main job's time goes: `evalkit run-model MODEL --split test` as a new user's first run.

    uv run python benchmarks/main_job.py                 # m2p on the test split, fresh cache, no ../shared
    uv run python benchmarks/main_job.py --model static --keep-cache DIR   # a second (warm) run: reuse DIR

The run goes through the CLI in this process (scoring with the default one job runs here too) under cProfile
with a CPU-time clock, so the per-phase figures are CPU seconds of this process (all its threads) and stay
comparable on a shared, loaded machine; wall seconds are printed too but move with the load. Processes the run
starts (the split generator's workers) count in "children CPU". The registry archives are taken from
EVALKIT_WEIGHTS_DIR (default: ~/.cache/evalkit/archives when it exists) so download time is left out.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

# (label, file suffix, function name): cumulative CPU seconds of these calls, in the order they run
PHASES = (
    ("split (embedded synth made)", "evalkit/data/synth/default.py", "ensure_default"),
    ("generator loaded", "evalkit/generators.py", "make_generator"),
    ("generation (all clips)", "evalkit/runner.py", "generate_split"),
    ("  write pred (lossless)", "evalkit/runner.py", "write_lossless"),
    ("  write gt", "evalkit/runner.py", "write_ground_truth"),
    ("scoring (all metrics)", "evalkit/scoring.py", "score"),
    ("  decode pred+gt", "evalkit/scoring.py", "_load_pair"),
    ("  networks loaded", "evalkit/scoring.py", "prepare"),
    ("  FVD/metrics computed", "evalkit/scoring.py", "aggregate"),
)
METRICS = ("ssim", "psnr", "l1", "lpips", "fvd", "beat_align", "av_align")


def _cumulative(stats: pstats.Stats, suffix: str | None, name: str) -> float:
    total = 0.0
    for (file, _, func), (_, _, _, cumulative, _) in stats.stats.items():
        if func == name and (suffix is None or file.endswith(suffix)):
            total += cumulative
    return total


def _metric_seconds(stats: pstats.Stats) -> dict[str, float]:
    """CPU seconds inside each metric's ``update`` (per video work), by the metric module's name."""
    out = {}
    for (file, _, func), (_, _, _, cumulative, _) in stats.stats.items():
        module = Path(file).stem
        if func == "update" and "evalkit/metrics/" in file and module in METRICS:
            out[module] = out.get(module, 0.0) + cumulative
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="m2p")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, help="only the first N clips (the fixed costs stay whole)")
    ap.add_argument("--keep-cache", type=Path, help="use (and keep) this EVALKIT_CACHE instead of a fresh one")
    ap.add_argument("--out", type=Path, help="run folder (default: a temporary one)")
    ap.add_argument("--profile", type=Path, help="also write the cProfile stats here")
    ap.add_argument("--top", type=int, default=25, help="print the N functions with the most own CPU time")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="evalkit-main-job-"))
    cache = args.keep_cache or work / "cache"
    os.environ["EVALKIT_CACHE"] = str(cache)
    os.environ["EVALKIT_SHARED"] = "none"  # a user's machine: no ../shared
    os.environ.pop("EVALKIT_POSE_MODEL", None)
    archives = Path.home() / ".cache" / "evalkit" / "archives"
    if "EVALKIT_WEIGHTS_DIR" not in os.environ and archives.is_dir():
        os.environ["EVALKIT_WEIGHTS_DIR"] = str(archives)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    from evalkit.cli import main as cli_main

    import_cpu = time.process_time() - cpu0
    limit = ["--limit", str(args.limit)] if args.limit else []
    code = cli_main(["run-model", args.model, "--split", args.split, "--device", "cpu",
                     "--out", str(args.out or work / "run"), *limit])
    profile.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.profile:
        profile.dump_stats(args.profile)
    stats = pstats.Stats(profile)

    print(f"\nmain job: evalkit run-model {args.model} --split {args.split} {' '.join(limit)} (exit {code}), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'phase':34s} {'CPU s':>8s}")
    print(f"{'imports (evalkit CLI)':34s} {import_cpu:8.1f}")
    for label, suffix, name in PHASES:
        print(f"{label:34s} {_cumulative(stats, suffix, name):8.1f}")
    for metric, seconds in sorted(_metric_seconds(stats).items(), key=lambda kv: -kv[1]):
        print(f"{'  metric ' + metric:34s} {seconds:8.1f}")
    print(f"{'this process, total':34s} {cpu:8.1f}")
    print(f"{'children CPU (user+sys)':34s} {children.ru_utime + children.ru_stime:8.1f}")
    print(f"{'wall (moves with the load)':34s} {wall:8.1f}")
    print(f"peak RSS: this process {self_peak:.0f} MB, largest child {children.ru_maxrss / 1024:.0f} MB")
    if args.top:
        print(f"\nown CPU time, top {args.top}:")
        stats.sort_stats("tottime").print_stats(args.top)
    if not args.keep_cache:
        shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
