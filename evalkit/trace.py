"""Where a scoring run's seconds go: opt-in event timestamps from every process of the run.

With ``EVALKIT_TRACE=DIR`` set, each process (CLI, torchrun rank, scoring worker) appends JSON lines
``{"t": wall-clock seconds, "pid", "rank", "event", ...}`` to ``DIR/<pid>.jsonl``; the first line of a
process also carries its OS start time, so interpreter and import time are visible. Unset, ``event`` is a
no-op. ``benchmarks/scale.py --trace`` reads the files back (:func:`read`) and prints the phases.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

_started: set[int] = set()


def _process_start() -> float | None:
    """This process's start (wall clock) from /proc; None where there is no /proc."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # starttime, clock ticks after boot (field 22 of proc(5))
        btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def event(name: str, **fields) -> None:
    folder = os.environ.get("EVALKIT_TRACE")
    if not folder:
        return
    pid = os.getpid()
    record = {"t": time.time(), "pid": pid, "rank": int(os.environ.get("RANK", "0")), "event": name, **fields}
    if pid not in _started:  # forked children inherit the set: keyed by pid, not a flag
        _started.add(pid)
        record["proc_start"] = _process_start()
        record["ppid"] = os.getppid()
    with open(Path(folder) / f"{pid}.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def read(folder: str | Path) -> list[dict]:
    """Every event of a traced run, in time order."""
    events = []
    for path in Path(folder).glob("*.jsonl"):
        events += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(events, key=lambda e: e["t"])
