"""``evalkit leaderboard site --out DIR``: static, sortable pages of every board, generated from the CSVs.

Each board ``<dir>/<split>.csv`` becomes ``<split>.html``: one cell per metric with its value, 95 % interval and
N (exactly the CSV's text), a significance marker where ``<dir>/decisions/<split>.csv`` says the row differs
from its control at Holm-corrected p < 0.05, and a link to the row's run report, generated into
``<split>/<model>/report.html`` from ``<dir>/results/<split>/<model>/``. ``index.html`` lists the boards.
"""
from __future__ import annotations

import csv
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.report.html import esc, page, table, write_page
from evalkit.report.run import write_report

META = ("model", "version", "pose backend", "date")
PARTS = (" CI low", " CI high", " N")  # the columns that follow each metric's value column in a board CSV
ALPHA = 0.05


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def metric_labels(header: list[str]) -> list[str]:
    """The value columns of a board: every column after the metadata that is not an interval bound or N."""
    labels = [c for c in header if c not in META and not c.endswith(PARTS)]
    missing = [f"{lab}{p}" for lab in labels for p in PARTS if f"{lab}{p}" not in header]
    if missing:
        raise EvalkitError(f"board has no column '{missing[0]}'", hint="rebuild it with `evalkit leaderboard build`")
    return labels


def metric_key(label: str) -> str:
    """'beat_align:beat_align_lift (bailando) ↑' → 'beat_align:beat_align_lift', as decisions name metrics."""
    return label.rsplit(" (", 1)[0]


def read_decisions(path: Path) -> dict[tuple[str, str], dict]:
    """(model, metric) → its decision row against the control; empty when the board has no decisions file."""
    if not path.is_file():
        return {}
    return {(r["model"], r["metric"]): r for r in read_csv(path)[1]}


def _marker(decision: dict | None, controls: set[str], model: str) -> str:
    if model in controls:
        return ' <span class="note" title="control of this metric">C</span>'
    if not decision:
        return ""
    title = (f"vs {decision['control']}: diff {decision['diff']} [{decision['ci_low']}, {decision['ci_high']}], "
             f"p {decision['p']}, Holm p {decision['p_holm']}, N {decision['n']}")
    try:
        significant = float(decision["p_holm"]) < ALPHA
    except ValueError:
        significant = False
    return f' <span class="{"sig" if significant else "note"}" title="{esc(title)}">{"*" if significant else "·"}</span>'


def _metric_cell(row: dict, label: str, marker: str) -> str:
    value, lo, hi, n = (row.get(label, ""), row.get(f"{label} CI low", ""), row.get(f"{label} CI high", ""),
                        row.get(f"{label} N", ""))
    interval = f" [{lo}, {hi}]" if lo or hi else ""
    count = f" N={n}" if n else ""
    return (f'<td data-v="{esc(value)}" data-lo="{esc(lo)}" data-hi="{esc(hi)}" data-n="{esc(n)}">'
            f'<span class="v">{esc(value)}</span>{esc(interval)}<span class="note">{esc(count)}</span>{marker}</td>')


def board_page(split: str, header: list[str], rows: list[dict], decisions: dict, reports: dict[str, str]) -> str:
    labels = metric_labels(header)
    controls: dict[str, set[str]] = {}
    for d in decisions.values():
        controls.setdefault(d["metric"], set()).add(d["control"])
    body = []
    for r in rows:
        model = r["model"]
        link = reports.get(model)
        name = f'<a href="{esc(link)}">{esc(model)}</a>' if link else esc(model)
        cells = [f'<td class="t" data-v="{esc(model)}">{name}</td>']
        cells += [f'<td class="t" data-v="{esc(r.get(k, ""))}">{esc(r.get(k, ""))}</td>' for k in META[1:]]
        cells += [_metric_cell(r, lab, _marker(decisions.get((model, metric_key(lab))),
                                               controls.get(metric_key(lab), set()), model)) for lab in labels]
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (f"Each cell: value [95 % interval] N, exactly as leaderboards/{split}.csv. "
            f"<span class='sig'>*</span>: differs from the metric's control (C) at Holm-corrected p &lt; {ALPHA} "
            f"(decisions/{split}.csv; hover for the paired difference); ·: decided, not significant; "
            "blank: no decision. Click a header to sort; a model links to its run report.")
    return page(f"evalkit leaderboard — {split}",
                f'<p><a href="index.html">all boards</a></p><h1>{esc(split)}</h1><p class="note">{note}</p>'
                + table("board", list(META) + labels, body, text_columns=len(META)))


def build_site(board_dir: str | Path, out: str | Path, reports: bool = True) -> list[Path]:
    """Write the site into ``out``; returns the pages written (boards first, then index.html)."""
    board_dir, out = Path(board_dir), Path(out)
    boards = sorted(board_dir.glob("*.csv"))
    if not boards:
        raise EvalkitError("has no board CSVs", path=board_dir,
                           hint="pass the leaderboard folder (--dir), e.g. leaderboards")
    out.mkdir(parents=True, exist_ok=True)
    written, links = [], []
    for path in boards:
        split = path.stem
        header, rows = read_csv(path)
        runs = {}
        for r in rows:
            run_dir = board_dir / "results" / split / r["model"]
            if reports and (run_dir / "results.json").is_file():
                write_report(run_dir, out / split / r["model"] / "report.html")
                runs[r["model"]] = f"{split}/{r['model']}/report.html"
        html = board_page(split, header, rows, read_decisions(board_dir / "decisions" / f"{split}.csv"), runs)
        written.append(write_page(out / f"{split}.html", html))
        links.append(f'<li><a href="{esc(split)}.html">{esc(split)}</a> — {len(rows)} rows</li>')
    index = page("evalkit leaderboards", "<h1>evalkit leaderboards</h1><ul>" + "".join(links) + "</ul>"
                 '<p class="note">Generated by <code>evalkit leaderboard site</code> from the board CSVs.</p>')
    written.append(write_page(out / "index.html", index))
    return written
