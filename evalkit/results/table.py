"""Render an aggregate results frame as a terminal table, CSV, Markdown or LaTeX."""
from __future__ import annotations

import math
import os

import pandas as pd

FORMATS = ("table", "csv", "md", "latex")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
    return str(value)


def _count(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(int(value))


def _rows(agg: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["metric", "preset", "↑/↓", "value", "95% CI", "videos", "failed", "frames"]
    rows = []
    for r in agg.to_dict(orient="records"):
        name = r["column"] if r["column"] == r["metric"] else f"{r['metric']}:{r['column']}"
        ci = "" if r.get("ci_low") is None or pd.isna(r.get("ci_low")) else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        rows.append([name, str(r["preset"]), r["direction"], _fmt(r["value"]), ci, str(r["n_videos"]),
                     str(r["n_failed"]), _count(r.get("frames"))])
    return header, rows


def render(agg: pd.DataFrame, fmt: str = "table") -> str:
    if fmt == "csv":
        return agg.to_csv(index=False, float_format="%.10g")
    header, rows = _rows(agg)
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        esc = lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$")
        lines = [r"\begin{tabular}{" + "l" * 3 + "r" * (len(header) - 3) + "}", r"\toprule",
                 " & ".join(esc(h) for h in header) + r" \\", r"\midrule"]
        lines += [" & ".join(esc(c) for c in r) + r" \\" for r in rows]
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title="evalkit scores")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 3 else "right")
    for r in rows:
        table.add_row(*r)
    buf = StringIO()
    Console(file=buf, width=120, force_terminal=False).print(table)
    return buf.getvalue()


# `evalkit score` / `run-model` exit with this when some requested metric has no value for some video
# (the table and results.json are still written); 0 means every metric has a value for every video
EXIT_INCOMPLETE = 3


def _reason(error: dict) -> str:
    """The reason without the video's own path: errors read '<path>: <what> — <fix>', and the same reason on
    several videos should read as one line (the videos are named after it)."""
    text = str(error.get("error", ""))
    head, sep, rest = text.partition(": ")
    if sep and os.path.splitext(head)[0].endswith(str(error.get("video", "\0"))):
        return rest
    return text


def failure_lines(record: dict, aggregate: pd.DataFrame | None = None, listed: int = 3) -> list[str]:
    """One line per metric and distinct failure reason with its count, the reason and its fix (from the
    record's ``errors``), then metrics the run could not use and metrics whose value (their main column) is
    missing without a per-video failure. Empty when every requested metric produced a value for every video."""
    groups: dict[tuple[str, str], list[str]] = {}
    for error in record.get("errors") or []:
        groups.setdefault((error["metric"], _reason(error)), []).append(str(error.get("video")))
    lines = []
    for (metric, reason), videos in groups.items():
        shown = ", ".join(videos[:listed]) + (", …" if len(videos) > listed else "")
        lines.append(f"{metric} failed for {len(videos)} video{'s' if len(videos) != 1 else ''} ({shown}): {reason}")
    for metric in (record.get("run") or {}).get("metrics_unavailable") or []:
        lines.append(f"{metric} not scored: this installation lacks it")
    explained = {metric for metric, _ in groups}
    if aggregate is not None and len(aggregate):
        for row in aggregate.to_dict(orient="records"):
            value = row.get("value")
            if row["column"] != row["metric"]:  # secondary columns (e.g. cross-music nulls need 2+ videos)
                continue
            if row["metric"] not in explained and (value is None or (isinstance(value, float) and math.isnan(value))):
                lines.append(f"{row['metric']} has no value (see results.json)")
                explained.add(row["metric"])
    return lines
