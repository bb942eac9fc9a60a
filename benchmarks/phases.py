"""Where a traced `evalkit score` run's seconds go (events written under EVALKIT_TRACE, see evalkit/trace.py).

    python benchmarks/phases.py TRACE_DIR      # a run traced by hand: EVALKIT_TRACE=TRACE_DIR evalkit score …
"""
from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np

from evalkit import trace


def _span(values) -> str:
    v = np.asarray(values, dtype=float)
    return "—" if v.size == 0 else f"{v.min():6.1f} {np.median(v):6.1f} {v.max():6.1f}"


def report(folder, t0: float | None = None, elapsed: float | None = None) -> str:
    """A table of the run's phases (seconds after ``t0``: first / median / last process) and of the work
    per video (seconds of a worker's wall clock per metric, GPU waits included)."""
    events = trace.read(folder)
    if not events:
        return f"(no trace events in {folder})"
    t0 = t0 if t0 is not None else min(e.get("proc_start") or e["t"] for e in events)
    by_event = defaultdict(list)
    starts = {}
    for e in events:
        by_event[e["event"]].append(e["t"] - t0)
        if e.get("proc_start"):
            starts[e["pid"]] = (e["event"], e["proc_start"] - t0)
    lines = [f"{'phase (s after launch)':34s}  first median   last  count"]

    def row(label, values):
        lines.append(f"{label:34s} {_span(values)}  {len(values):5d}")

    row("scoring processes start", [s for ev, s in starts.values() if ev == "cli_start"])
    row("CLI ready (imports done)", by_event["cli_start"])
    row("torch.distributed ready", by_event["dist_ready"])
    row("forkserver asked to start", by_event["forkserver_started"])
    row("workers start (forked)", by_event["worker_start"])
    row("workers ready (GPU, networks)", by_event["worker_ready"])
    row("videos decoded", by_event["decoded"])
    row("chunks done", by_event["chunk_done"])
    row("scoring processes done", by_event["run_done"])
    row("ranks gathered", by_event["gathered"])
    row("metrics computed (FVD bootstrap)", by_event["computed"])
    row("results written", by_event["finished"])
    if elapsed is not None:
        lines.append(f"{'process exit':34s} {elapsed:6.1f}")
    per_metric = defaultdict(list)
    for e in events:
        if e["event"] == "decoded":
            per_metric["decode (pred+gt)"].append(e["seconds"])
        elif e["event"] == "scored":
            for name, sec in e["seconds"].items():
                per_metric[name].append(sec)
    if per_metric:
        lines.append(f"{'work per video (s)':34s}   mean    max  total")
        for name, secs in per_metric.items():
            lines.append(f"  {name:32s} {np.mean(secs):6.2f} {np.max(secs):6.2f} {np.sum(secs):6.1f}")
        per_video = sum(np.mean(s) for s in per_metric.values())
        lines.append(f"  {'all (one worker, one video)':32s} {per_video:6.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1]))
