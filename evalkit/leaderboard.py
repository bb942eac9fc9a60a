"""Leaderboards: one CSV per split, built only from committed result files, and a drift check against them.

Layout (under ``leaderboards/`` of the repository, or ``--dir``)::

    results/<split>/<model>/results.json   a run's results (evalkit run-model), committed
    results/<split>/<model>/per_video.csv  its per-video rows (paths relative to the run folder)
    <split>.csv                            the board: made by `evalkit leaderboard build`, never by hand

A board has one row per generator (registry order, then any other model alphabetically): model, version,
pose backend (the one BeatAlign used), date (the results' own date); then per metric column
``<name> (<preset>) <↑|↓>`` its value, 95 % interval (low, high) and N (videos scored). The interval is the
metric's own where it gives one (FVD: bootstrap over clips); else a percentile bootstrap over videos
(2000 resamples, seed 0) from per_video.csv when the aggregate is the plain or frame-weighted mean of the
per-video values (empty otherwise, and with fewer than two videos). A generator without results for the split has "not run" in every metric cell. All boards
share one column layout: the union of the columns in every committed result. Numbers are written with four
decimals, rows and columns in a fixed order, ``\\n`` line ends — the same files give the same bytes.
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

NOT_RUN = "not run"
MISSING = "n/a"  # a model was run, but without this column
META = ("model", "version", "pose backend", "date")
FMT = "{:.4f}"
BOOTSTRAP = 2000  # resamples of the videos for the intervals the leaderboard computes itself


@dataclass(frozen=True)
class Board:
    dataset: str
    part: str
    about: str
    default_root: str | None = None  # "shared:<path>": inside $EVALKIT_SHARED


BOARDS = {
    "synth-test": Board("synth", "test", "embedded SDGPip split (4 clips of 4 s, 256², 30 fps), made on first use"),
    "wild": Board("wild", "test", "real dance clips with music (../shared/data/wild: 3 of its 5 videos have audio)",
                  "shared:data/wild"),
    "aistpp-test": Board("aistpp", "test", "AIST++ crossmodal test split (user-supplied dataset)"),
}
#: the baselines `check` recomputes by default: between them they exercise the reference IO, the SDGPip renderer,
#: beat tracking and every metric, in a few CPU minutes (gt-pose and retrieval add run time, not coverage)
CHECK_MODELS = ("static", "beat-procedural")
#: `check`'s tolerance of a column whose metric is not registered here (a metric's own: its drift_tolerance)
DEFAULT_TOLERANCE = (1e-3, 1e-3)


def metric_tolerances() -> dict[str, tuple[float, float]]:
    """Per registered metric: the (absolute, relative) tolerance of `check` its class declares
    (``drift_tolerance``); a metric whose module does not import here keeps the default."""
    from evalkit.metrics import REGISTRY, metric_class

    out = {}
    for name in REGISTRY:
        try:
            out[name] = tuple(metric_class(name).drift_tolerance)
        except ImportError:
            continue
    return out


def board_names() -> tuple[str, ...]:
    return tuple(BOARDS)


def check_split(split: str) -> Board:
    if split not in BOARDS:
        raise EvalkitError(f"unknown leaderboard split '{split}'", hint=f"choose one of: {', '.join(BOARDS)}")
    return BOARDS[split]


def board_root(split: str, root=None) -> Path | None:
    """The dataset root a board is run on: ``root``, else the board's default (None: the embedded split)."""
    if root is not None:
        return Path(root)
    board = check_split(split)
    if board.default_root and board.default_root.startswith("shared:"):
        from evalkit.paths import shared_dir

        shared = shared_dir()
        if shared is None:
            raise EvalkitError(f"the {split} board runs on the shared dance clips, and EVALKIT_SHARED is not set",
                               hint="set EVALKIT_SHARED=../shared or pass --root DIR")
        return shared / board.default_root.split(":", 1)[1]
    if board.dataset != "synth":
        raise EvalkitError(f"the {split} board needs its dataset", hint="pass --root DATASET_DIR")
    return None


# ---------------------------------------------------------------------------------------------- entries
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


def results_dir(board_dir: Path, split: str) -> Path:
    return Path(board_dir) / "results" / split


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


# ---------------------------------------------------------------------------------------------- tables
def label(key) -> str:
    metric, column, preset, direction = key
    name = column if column == metric else f"{metric}:{column}"
    return f"{name} ({preset}) {direction}"


def header(columns) -> list[str]:
    out = list(META)
    for key in columns:
        lab = label(key)
        out += [lab, f"{lab} CI low", f"{lab} CI high", f"{lab} N"]
    return out


def _num(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):  # results.json writes inf as a string
        value = float(value)
    if math.isnan(value):
        return "nan"
    return FMT.format(value) if math.isfinite(value) else str(value)


def row_cells(entry: Entry | None, model: str, columns) -> list[str]:
    if entry is None:
        return [model, "", "", ""] + [c for _ in columns for c in (NOT_RUN, "", "", "")]
    cells = [model, entry.version, entry.pose_backend, entry.date]
    for key in columns:
        r = entry.cells.get(key)
        if r is None:
            cells += [MISSING, "", "", ""]
            continue
        lo, hi = r.get("ci_low"), r.get("ci_high")
        cells += [_num(r.get("value")), "" if lo is None else _num(lo), "" if hi is None else _num(hi),
                  str(int(r["n_videos"])) if r.get("n_videos") is not None else ""]
    return cells


def table(split: str, board_dir: Path, entries: dict[str, Entry] | None = None) -> list[list[str]]:
    """The board's rows (header first) from ``entries`` (default: the committed results)."""
    check_split(split)
    entries = read_entries(results_dir(board_dir, split)) if entries is None else entries
    columns = all_columns(board_dir, list(entries.values()))
    rows = [header(columns)]
    for model in model_order(entries):
        rows.append(row_cells(entries.get(model), model, columns))
    return rows


def to_csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def build(split: str, board_dir: Path) -> Path:
    """Write ``<board_dir>/<split>.csv`` from the committed results, and ``<board_dir>/decisions/<split>.csv``:
    each model's difference to its control with p-values, and the board's minimum detectable differences."""
    from evalkit.stats.decisions import write as write_decisions

    text = to_csv(table(split, board_dir))
    path = Path(board_dir) / f"{split}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    write_decisions(results_dir(board_dir, split), Path(board_dir) / "decisions" / f"{split}.csv")
    return path


def read_board(path: Path) -> list[list[str]]:
    if not Path(path).is_file():
        raise EvalkitError("no leaderboard file", path=path, hint="make it with `evalkit leaderboard build`")
    with open(path, encoding="utf-8", newline="") as fh:
        return [row for row in csv.reader(fh)]


def markdown(rows: list[list[str]]) -> str:
    """The board as a Markdown table: one cell per metric, ``value [low, high]``, and N per row."""
    head, body = rows[0], rows[1:]
    metric_cols = [i for i in range(len(META), len(head), 4)]
    out = ["| model | version | pose backend | date | N | " + " | ".join(head[i] for i in metric_cols) + " |",
           "|---|---|---|---|---:|" + "---:|" * len(metric_cols)]
    for r in body:
        ns = {r[i + 3] for i in metric_cols if r[i + 3]}
        n = max(ns, key=int) if ns else ""
        cells = []
        for i in metric_cols:
            value, lo, hi, count = r[i], r[i + 1], r[i + 2], r[i + 3]
            cell = value + (f" [{lo}, {hi}]" if lo and hi and lo != "nan" else "")
            cells.append(cell + (f" (n={count})" if count and count != n else ""))
        out.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------- storing runs
def store_run(run_dir: Path, split: str, board_dir: Path) -> Path:
    """Copy a run's results.json (and per_video.csv, paths made relative to the run) into the board's results."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / "results.json").read_text())
    model = record.get("run", {}).get("model")
    if not model:
        raise EvalkitError("results.json has no run block", path=run_dir / "results.json",
                           hint="store runs made by `evalkit run-model`")
    dest = results_dir(board_dir, split) / model
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "results.json", dest / "results.json")
    per_video = run_dir / "per_video.csv"
    if per_video.is_file():
        text = per_video.read_text()
        for sub in ("pred", "gt"):
            text = text.replace(str((run_dir / sub).resolve()) + "/", f"{sub}/").replace(str(run_dir / sub) + "/", f"{sub}/")
        (dest / "per_video.csv").write_text(text)
    return dest


def protocol(entry: Entry) -> dict:
    """How a committed result was made (run_model keyword arguments), so `check` can remake it."""
    run, settings = entry.record.get("run", {}), entry.record.get("settings", {})
    return {"seed": run.get("seed", 0), "limit": run.get("limit"), "options": run.get("options") or {},
            "metrics": list(settings.get("metrics") or []) or None, "preset": settings.get("preset", "clean")}


def run_board(split: str, models, board_dir: Path, root=None, work: Path | None = None, device: str = "cpu",
              jobs: int = 1, progress: bool = True, protocols: dict | None = None) -> dict[str, Path]:
    """Run ``models`` on the board's split (run folders under ``work``); returns model -> run folder."""
    from evalkit.runner import run_model

    board = check_split(split)
    root = board_root(split, root)
    work = Path(work or Path("runs") / f"leaderboard-{split}")
    out = {}
    for model in models:
        kw = dict((protocols or {}).get(model, {}))
        run_model(model, split=board.part, dataset=board.dataset, root=root, out=work / model, device=device,
                  jobs=jobs, progress=progress, seed=kw.get("seed", 0), limit=kw.get("limit"),
                  metrics=kw.get("metrics"), options=kw.get("options"), preset=kw.get("preset", "clean"))
        out[model] = work / model
    return out


# ---------------------------------------------------------------------------------------------- check
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


def _preflight(protocols: list[dict]) -> None:
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
        _preflight([protocol(committed_entries[m]) for m in models])
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
