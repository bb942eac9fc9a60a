"""A board as rows of text: header, cells (value, interval, N), the CSV `build` writes and the Markdown view."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.leaderboard.boards import check_split, results_dir
from evalkit.leaderboard.entries import Entry, all_columns, model_order, read_entries

NOT_RUN = "not run"
MISSING = "n/a"  # a model was run, but without this column
META = ("model", "version", "pose backend", "date")
FMT = "{:.4f}"


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
