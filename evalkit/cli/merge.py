"""``evalkit merge``: combine the states of ``evalkit score --shard i/n`` runs into one result."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("merge")
    def merge_cmd(
        shards: list[Path] = typer.Argument(..., help="The --out directories of the shard runs."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write the merged results.json and per_video.csv here."),
        fmt: str = typer.Option("table", "--format", help="table | csv | md | latex"),
    ):
        """Merge shard states exactly (float64 sums added, per-video rows concatenated)."""
        from evalkit.results.table import render
        from evalkit.scoring import finish
        from evalkit.shards import merge_shards

        agg = finish(merge_shards(shards), out)
        typer.echo(render(agg, fmt), nl=False)
