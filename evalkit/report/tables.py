"""The report's tables: aggregate results (from results.json) and per-video scores (from per_video.csv)."""
from __future__ import annotations

import csv
from pathlib import Path

from evalkit.report.html import cell, esc, table

RESULT_COLUMNS = ["metric", "preset", "↑/↓", "value", "CI low", "CI high", "N videos", "failed", "frames",
                  "chance (null)"]


def row_name(row: dict) -> str:
    """The name the terminal table gives an aggregate row: ``metric`` or ``metric:column``."""
    return row["column"] if row["column"] == row["metric"] else f"{row['metric']}:{row['column']}"


def _count(value) -> str:
    return "—" if value is None else str(int(value))  # results.json writes frame counts as floats


def results_table(record: dict) -> str:
    """One row per aggregate entry; the chance level is the row's null-corrected ``<column>_null`` where the
    metric reports one (sync metrics), so a value can be read against what unrelated music would score."""
    rows = record.get("aggregate", [])
    by_column = {r["column"]: r for r in rows}
    out = []
    for r in rows:
        null = by_column.get(f"{r['column']}_null")
        out.append("<tr>" + cell(row_name(r), cls="t") + cell(r.get("preset"), cls="t")
                   + cell(r.get("direction"), cls="t") + cell(r.get("value")) + cell(r.get("ci_low"))
                   + cell(r.get("ci_high")) + cell(r.get("n_videos")) + cell(r.get("n_failed"))
                   + cell(r.get("frames"), text=_count(r.get("frames"))) + cell(null["value"] if null else None) + "</tr>")
    return table("results", RESULT_COLUMNS, out, text_columns=3)


def warnings_html(record: dict) -> str:
    """Every metric's warnings, failed videos, and a small-sample warning (fewer than 30 videos)."""
    lines = []
    n = record.get("counts", {}).get("videos")
    if isinstance(n, int) and n < 30:
        lines.append(f"small sample: {n} videos — intervals are wide and rankings between close rows can flip")
    for name, ident in record.get("metrics", {}).items():
        lines += [f"{name}: {w}" for w in ident.get("warnings", [])]
    lines += [f"{e.get('metric')} failed on {e.get('video')}: {e.get('error')}" for e in record.get("errors", [])]
    return "".join(f'<div class="warn">{esc(line)}</div>' for line in lines)


def read_per_video(path: Path) -> tuple[list[str], list[dict]]:
    """per_video.csv as written (strings, so the page shows exactly the file's digits)."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def per_video_table(columns: list[str], rows: list[dict]) -> str:
    text = {"video", "pred", "gt"}
    body = ["<tr>" + "".join(cell(r[c], cls="t" if c in text else "") for c in columns) + "</tr>" for r in rows]
    return table("per-video", columns, body, text_columns=1)
