"""What a run report costs next to the scoring it reports: score RUN_DIR/pred against RUN_DIR/gt with the board
metrics (as `evalkit run-model` does; --metrics to choose), then write its report (as `run-model` then does),
and time both.

Fresh feature and pose caches (``EVALKIT_CACHE`` in a temporary folder; weights, archives and data linked from
the usual cache) make the scoring cold, as on a first run; the report then finds the poses the scoring cached,
exactly as the report that `score --out` writes does.
RUN_DIR is a `run-model` folder (it keeps pred/ and gt/), e.g. from
``evalkit run-model static --split test --out RUN_DIR --no-report``.

Run: uv run python benchmarks/report.py RUN_DIR [--repeat 3] [--json out.json] [--out KEEP_DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--repeat", type=int, default=3, help="report generations timed after the first")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--metrics", help="comma-separated (default: the board metrics, as run-model scores)")
    ap.add_argument("--out", type=Path, help="keep the scored results and report here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        usual = Path(os.environ.get("EVALKIT_CACHE") or Path.home() / ".cache" / "evalkit")
        for kept in ("weights", "archives", "data"):  # what is downloaded or generated once, not per run
            if (usual / kept).is_dir():
                (Path(cache) / kept).symlink_to(usual / kept)
        os.environ["EVALKIT_CACHE"] = cache  # before evalkit reads it
        from evalkit.metrics import board_metrics
        from evalkit.report.run import write_report
        from evalkit.scoring import score

        start, cpu = time.perf_counter(), time.process_time()
        metrics = tuple(args.metrics.split(",")) if args.metrics else board_metrics()[0]
        score(args.run_dir / "pred", args.run_dir / "gt", metrics=metrics, out=out, progress=False)
        scoring, scoring_cpu = time.perf_counter() - start, time.process_time() - cpu
        times, cpus = [], []
        for _ in range(1 + args.repeat):
            start, cpu = time.perf_counter(), time.process_time()
            page = write_report(out, Path(out) / "report.html")
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        videos = json.loads((Path(out) / "results.json").read_text())["counts"]["videos"]
        result = {"run_dir": str(args.run_dir), "videos": videos, "metrics": list(metrics), "scoring_s": round(scoring, 2),
                  "report_first_s": round(times[0], 2), "report_repeat_s": [round(t, 2) for t in times[1:]],
                  "report_share_of_scoring": round(times[0] / scoring, 4),
                  # CPU seconds of this process (all its threads): less sensitive than wall time to a busy machine
                  "scoring_cpu_s": round(scoring_cpu, 2), "report_first_cpu_s": round(cpus[0], 2),
                  "report_cpu_share_of_scoring": round(cpus[0] / scoring_cpu, 4), "report_bytes": page.stat().st_size,
                  "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1),
                  "machine": platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
