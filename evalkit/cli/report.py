"""``evalkit report RUN_DIR``: the run's self-contained HTML report (evalkit.report.run)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

NO_REPORT_HELP = "Do not write report.html into --out."


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        run_dir: Path = typer.Argument(..., help="A scored run folder (results.json, per_video.csv)."),
        out: Optional[Path] = typer.Option(None, "--out", help="HTML file to write (default RUN_DIR/report.html)."),
        videos: bool = typer.Option(True, "--videos/--no-videos", help="Frame strips and beat plots (need the videos)."),
    ) -> None:
        """One HTML file (no network): results with intervals and warnings, per-video table, frames, beat plots,
        provenance."""
        from evalkit.report.run import write_report

        typer.echo(f"wrote {write_report(run_dir, out, videos=videos)}", err=True)


def write_run_report(run_dir: Path) -> None:
    """The report ``score --out`` and ``run-model`` write after scoring (unless --no-report)."""
    from evalkit.report.run import write_report

    typer.echo(f"wrote {write_report(run_dir)}", err=True)
