"""The drift check: fresh results (given, or re-run now with the committed protocol) against the committed
board, each metric within its own tolerance; and whether a committed board is stale."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.leaderboard.boards import CHECK_MODELS, DEFAULT_TOLERANCE, metric_tolerances, results_dir
from evalkit.leaderboard.entries import all_columns, load_entry, read_entries
from evalkit.leaderboard.runs import protocol, run_board
from evalkit.leaderboard.tables import META, NOT_RUN, label, read_board, table, to_csv


@dataclass
class Drift:
    model: str
    column: str
    new: str
    old: str

    def line(self) -> str:
        return f"{self.model:16s} {self.column}: {self.new} ({self.old})"


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _same(new: str, old: str, tol: tuple[float, float]) -> bool:
    if new == old:
        return True
    a, b = _float(new), _float(old)
    if a is None or b is None:
        return False
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return abs(a - b) <= tol[0] + tol[1] * abs(b)


def compare(committed: list[list[str]], fresh: list[list[str]], tolerances: dict | None = None,
            metric_of: dict | None = None) -> list[Drift]:
    """Cells of ``fresh`` rows that differ from the committed board beyond the metric's tolerance (value, interval
    and N columns; a model, a metric or a column the committed board lacks is a drift too — except new columns
    of a metric the board already has (e.g. BeatAlign's null rows): new output beside it, shown once rebuilt)."""
    tolerances = {**metric_tolerances(), **(tolerances or {})}
    old_head, new_head = committed[0], fresh[0]
    old_rows = {r[0]: dict(zip(old_head, r)) for r in committed[1:]}

    def metric(col: str) -> str:
        return (metric_of or {}).get(col, col.split(" ")[0].split(":")[0])

    old_metrics = {metric(col) for col in old_head[len(META):]}
    drifts = []
    for r in fresh[1:]:
        new = dict(zip(new_head, r))
        if new.get(new_head[len(META)], NOT_RUN) == NOT_RUN and r[1] == "":
            continue  # not recomputed: nothing to compare
        old = old_rows.get(r[0])
        for col in new_head[len(META):]:
            if col not in old_head and metric(col) in old_metrics:
                continue
            old_value = old.get(col, "(no column)") if old else "(no row)"
            if col.endswith(" N"):
                same = new[col] == old_value
            else:
                same = _same(new[col], old_value, tolerances.get(metric(col), DEFAULT_TOLERANCE))
            if not same:
                drifts.append(Drift(r[0], col, new[col] or "''", old_value or "''"))
    return drifts


def stale(split: str, board_dir: Path) -> bool:
    """True when the committed CSV is not what `build` makes from the committed results (edited or not rebuilt)."""
    path = Path(board_dir) / f"{split}.csv"
    return not path.is_file() or path.read_text(encoding="utf-8") != to_csv(table(split, board_dir))


def preflight(protocols: list[dict]) -> None:
    """Fail with one line before minutes of work when a metric lacks what it needs, e.g. BeatAlign its pose model
    (every video would fail and show up as drift in N): each metric's own ``preflight``."""
    from evalkit.metrics import metric_class
    from evalkit.runner import available_metrics

    for name in dict.fromkeys(m for p in protocols for m in (p["metrics"] or available_metrics()[0])):
        metric_class(name).preflight()


def check(split: str, board_dir: Path, results: Path | None = None, models=None, tolerances: dict | None = None,
          root=None, work: Path | None = None, device: str = "cpu", jobs: int = 1, progress: bool = True):
    """Compare fresh results with the committed board. ``results``: a folder of ``<model>/results.json`` (or
    of ``<split>/<model>/results.json``); else the ``models`` (default CHECK_MODELS) are re-run now with the
    protocol of their committed results. Returns (drifts, models compared)."""
    board_dir = Path(board_dir)
    committed = read_board(board_dir / f"{split}.csv")
    if results is not None:
        folder = Path(results)
        if (folder / split).is_dir():
            folder = folder / split
        fresh_entries = read_entries(folder)
        if not fresh_entries:
            raise EvalkitError("no <model>/results.json in the results folder", path=folder)
        if models:
            fresh_entries = {m: e for m, e in fresh_entries.items() if m in set(models)}
    else:
        import tempfile

        committed_entries = read_entries(results_dir(board_dir, split))
        models = list(models or CHECK_MODELS)
        missing = [m for m in models if m not in committed_entries]
        if missing:
            raise EvalkitError(f"no committed results for {', '.join(missing)} on {split}",
                               path=results_dir(board_dir, split), hint="run `evalkit leaderboard run` first")
        preflight([protocol(committed_entries[m]) for m in models])
        with tempfile.TemporaryDirectory(prefix="evalkit-check-") as tmp:
            runs = run_board(split, models, board_dir, root, Path(work or tmp), device, jobs, progress,
                             {m: protocol(committed_entries[m]) for m in models})
            fresh_entries = {m: load_entry(d, m) for m, d in runs.items()}
    fresh = table(split, board_dir, fresh_entries)
    metric_of = {}
    for key in all_columns(board_dir, list(fresh_entries.values())):
        lab = label(key)
        for suffix in ("", " CI low", " CI high", " N"):
            metric_of[lab + suffix] = key[0]
    return compare(committed, fresh, tolerances, metric_of), sorted(fresh_entries)
