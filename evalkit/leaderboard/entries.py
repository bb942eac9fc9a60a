"""A committed result read back as a board's entry: its cells per column, intervals over videos where the
metric gives none, the union of the columns of all boards and the order of the rows."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.leaderboard.boards import BOARDS, results_dir

BOOTSTRAP = 2000  # resamples of the videos for the intervals the leaderboard computes itself


@dataclass
class Entry:
    """One model's results on one split."""

    model: str
    version: str
    pose_backend: str
    date: str
    cells: dict = field(default_factory=dict)  # column key -> aggregate row
    record: dict = field(default_factory=dict)


def column_key(row: dict) -> tuple[str, str, str, str]:
    return (row["metric"], row["column"], str(row["preset"]), row["direction"])


def entry_from_record(record: dict, model: str | None = None) -> Entry:
    run = record.get("run", {})
    model = model or run.get("model")
    if not model:
        raise EvalkitError("results.json has no run block naming the model", hint="make it with `evalkit run-model`")
    cells = {column_key(r): dict(r) for r in record.get("aggregate", [])}
    return Entry(model, str(run.get("version", "")), run.get("pose_backend") or "", str(record.get("created", ""))[:10],
                 cells, record)


def video_interval(values: np.ndarray, weights: np.ndarray, replicates: int = BOOTSTRAP, seed: int = 0):
    """95 % percentile bootstrap interval of the weighted mean over videos (NaN values left out), or None."""
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(replicates, len(values)))
    v, w = np.where(ok, values, 0.0)[idx], np.where(ok, weights, 0.0)[idx]
    total = w.sum(axis=1)
    means = (v * w).sum(axis=1)[total > 0] / total[total > 0]
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def add_video_intervals(cells: dict, per_video) -> None:
    """Give rows without an interval a bootstrap-over-videos one, when the aggregate is the plain or the
    frame-weighted mean of the per-video values (checked to 1e-9; otherwise the interval stays empty)."""
    for key, row in cells.items():
        lo = row.get("ci_low")
        if (lo is not None and not (isinstance(lo, float) and math.isnan(lo))) or key[1] not in per_video:
            continue
        values = per_video[key[1]].to_numpy(dtype=np.float64)
        value = row.get("value")
        if value is None or not np.isfinite(values).any():
            continue
        ok = np.isfinite(values)
        frames = per_video["frames"].to_numpy(dtype=np.float64) if "frames" in per_video else np.ones(len(values))
        for weights in (np.ones(len(values)), frames):
            mean = float((values[ok] * weights[ok]).sum() / weights[ok].sum())
            if abs(mean - float(value)) <= 1e-9 * max(1.0, abs(mean)):
                interval = video_interval(values, weights)
                if interval is not None:
                    row["ci_low"], row["ci_high"] = interval
                    row["ci_source"] = "bootstrap over videos (leaderboard)"
                break


def load_entry(folder: Path, model: str | None = None) -> Entry:
    """A run's results.json (+ per_video.csv, for intervals over videos) from ``folder``."""
    import pandas as pd

    path = Path(folder) / "results.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EvalkitError(f"unreadable results ({type(err).__name__})", path=path) from None
    entry = entry_from_record(record, model)
    per_video = Path(folder) / "per_video.csv"
    if per_video.is_file():
        add_video_intervals(entry.cells, pd.read_csv(per_video).sort_values("video", kind="stable"))
    return entry


def read_entries(folder: Path) -> dict[str, Entry]:
    """Every ``<folder>/<model>/results.json`` (the folder may be missing: no entries)."""
    entries = {}
    if not folder.is_dir():
        return entries
    for path in sorted(folder.glob("*/results.json")):
        entry = load_entry(path.parent, path.parent.name)
        entries[entry.model] = entry
    return entries


def all_columns(board_dir: Path, extra: list[Entry] = ()) -> list[tuple[str, str, str, str]]:
    """The union of the columns of every committed result (all splits) and ``extra``, in metric order."""
    from evalkit.metrics import REGISTRY

    seen: dict = {}
    entries = [e for split in BOARDS for e in read_entries(results_dir(board_dir, split)).values()] + list(extra)
    for e in entries:
        for key in e.cells:
            seen.setdefault(key, len(seen))
    rank = {m: i for i, m in enumerate(REGISTRY)}
    return sorted(seen, key=lambda k: (rank.get(k[0], len(rank)), k[0], seen[k]))


def model_order(models) -> list[str]:
    from evalkit.generators import GENERATORS

    names = set(models) | set(GENERATORS)
    known = [m for m in GENERATORS if m in names]
    return known + sorted(names - set(GENERATORS))
