"""``evalkit report RUN_DIR``: one self-contained HTML page of a scored run, read from its results files only."""
from __future__ import annotations

import json
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.report.figures import beat_plot_uri, img, interval_figure, locate, strip, try_img
from evalkit.report.html import esc, page, write_page
from evalkit.report.provenance import provenance_html
from evalkit.report.tables import per_video_table, read_per_video, results_table, warnings_html

REPORT_NAME = "report.html"
SYNC_SUFFIXES = ("_null", "_lift", "_z")  # the null-corrected sync figures of beat_align / av_align


def load_run(run_dir: str | Path) -> tuple[dict, list[str], list[dict]]:
    """results.json and per_video.csv of ``run_dir``, or a one-line error naming what is missing."""
    run_dir = Path(run_dir)
    results = run_dir / "results.json"
    if not results.is_file():
        raise EvalkitError("has no results.json", path=run_dir,
                           hint="pass a folder written by `evalkit score --out` or `evalkit run-model`")
    try:
        record = json.loads(results.read_text())
    except json.JSONDecodeError as err:
        raise EvalkitError(f"is not valid JSON ({err.msg}, line {err.lineno})", path=results,
                           hint="re-run the scoring that wrote it") from None
    if "aggregate" not in record:
        raise EvalkitError("is not an evalkit results record (no 'aggregate')", path=results,
                           hint="pass a folder written by `evalkit score --out`")
    per_video = run_dir / "per_video.csv"
    columns, rows = read_per_video(per_video) if per_video.is_file() else ([], [])
    return record, columns, rows


def _sync_line(row: dict) -> str:
    items = [f"{k} = {float(v):.4g}" for k, v in row.items()
             if k.startswith(("beat_align", "av_align")) and k.endswith(SYNC_SUFFIXES) and v not in ("", None)]
    return f'<p class="note">null-corrected sync: {esc(", ".join(items))}</p>' if items else ""


def _strip_figure(pred: Path, gt: Path | None, name: str) -> str:
    try:
        uri, times = strip(pred, gt)
    except EvalkitError as err:  # an unreadable video becomes a note, not a broken page
        return f'<p class="note">frames of {esc(name)} unavailable: {esc(err)}</p>'
    caption = "top: prediction" + (", bottom: ground truth" if gt else " (ground truth not found)")
    return img(uri, f"frames of {name}", caption + " · at " + ", ".join(f"{t:.2f} s" for t in times))


def _video_section(row: dict, run_dir: Path, record: dict) -> str:
    name = row.get("video", "?")
    pred = locate(row.get("pred", ""), run_dir, "pred")
    gt = locate(row.get("gt", ""), run_dir, "gt")
    parts = [f'<h3 id="video-{esc(name)}">{esc(name)}</h3>']
    if pred is None:
        parts.append(f'<p class="note">videos not available: {esc(row.get("pred"))} is not on this machine '
                     f"(nor under {esc(run_dir)}); frames and beat plot need them.</p>")
    else:
        parts.append(_strip_figure(pred, gt, name))
        ident = record.get("metrics", {}).get("beat_align")
        if ident:
            audio = record.get("settings", {}).get("audio_dir")
            parts.append(try_img(lambda: beat_plot_uri(pred, ident, audio), f"beat plot of {name}",
                                 f"2D-BeatAlign ({ident.get('preset')}) of the prediction"))
    parts.append(_sync_line(row))
    return "".join(parts)


def build_report(run_dir: str | Path, videos: bool = True) -> str:
    """The report page of ``run_dir`` as HTML text (``videos=False`` leaves out frames and beat plots)."""
    run_dir = Path(run_dir)
    record, columns, rows = load_run(run_dir)
    run = record.get("run") or {}
    title = f"evalkit report — {run.get('model', run_dir.name)}" + (f" on {run['split']}" if run.get("split") else "")
    n = record.get("counts", {}).get("videos")
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="note">{esc(run_dir)} · {n} videos · created {esc(record.get("created"))} · '
            f'evalkit {esc(record.get("evalkit_version"))} @ {esc((record.get("git_commit") or "?")[:12])}</p>',
            "<h2>Results</h2>", warnings_html(record), results_table(record),
            '<p class="note">Intervals are 95 % as results.json stores them (blank: the run computed none); '
            "chance is the metric's null (the same videos with unrelated music) where it has one.</p>"]
    fig = interval_figure(record)
    if fig:
        body += ["<h2>Set-level metrics</h2>", img(fig, "set-level intervals",
                 "results.json keeps each bootstrap's interval, not its replicates: value (dot) and 95 % interval")]
    if rows:
        body += ["<h2>Per video</h2>", '<p class="note">Click a header to sort.</p>', per_video_table(columns, rows)]
        if videos:
            body += ["<h2>Videos</h2>"] + [_video_section(r, run_dir, record) for r in rows]
    body += ["<h2>Provenance</h2>", provenance_html(record)]
    return page(title, "\n".join(body))


def write_report(run_dir: str | Path, out: str | Path | None = None, videos: bool = True) -> Path:
    """Write ``run_dir``'s report (default ``RUN_DIR/report.html``), atomically; returns its path."""
    html = build_report(run_dir, videos=videos)
    out = Path(out) if out else Path(run_dir) / REPORT_NAME
    if out.is_dir():
        raise EvalkitError("--out is a directory", path=out, hint="pass a file name ending in .html")
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_page(out, html)
