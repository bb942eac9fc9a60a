"""``evalkit compare RUN_A RUN_B [RUN_C ...]`` and ``evalkit power RUN [RUN_B]``: decisions from result folders."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_cmd(
        runs: list[Path] = typer.Argument(..., help="Result folders (results.json + per_video.csv); the first is the control A."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write compare.csv here."),
        fmt: str = typer.Option("table", "--format", help="table | md"),
        resamples: int = typer.Option(500, "--resamples", help="Paired bootstrap replicates of set-level metrics (FVD)."),
    ):
        """Paired differences B − A per metric over the videos both runs scored, with interval and p-values."""
        from evalkit.comparison import compare, render
        from evalkit.errors import EvalkitError

        if fmt not in ("table", "md"):
            raise EvalkitError(f"unknown format '{fmt}'", hint="choose table or md")
        if resamples < 100:
            raise EvalkitError(f"--resamples {resamples} is too few for a 95 % interval", hint="use 100 or more")
        typer.echo(render(compare(runs, out, resamples=resamples), fmt), nl=False)
        if out is not None:
            from evalkit.report.compare import write_comparison

            typer.echo(f"wrote {write_comparison(out)}", err=True)
