"""``evalkit power RUN [RUN_B] [--n N ...] [--diff [METRIC=]D ...]``: how many videos a decision needs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evalkit.errors import EvalkitError


def parse_diffs(items: list[str]) -> dict[str, float]:
    """['ssim=0.01', '0.05'] -> {'ssim': 0.01, '*': 0.05} (a bare number applies to every other metric)."""
    out = {}
    for item in items:
        key, _, text = item.rpartition("=")
        try:
            value = float(text)
        except ValueError:
            raise EvalkitError(f"bad --diff '{item}'", hint="write METRIC=VALUE or VALUE, e.g. ssim=0.01") from None
        if not value > 0:
            raise EvalkitError(f"--diff '{item}' must be a positive difference", hint="e.g. --diff ssim=0.01")
        out[key or "*"] = value
    return out


def register(app: typer.Typer) -> None:
    @app.command("power")
    def power_cmd(
        runs: list[Path] = typer.Argument(..., help="A result folder; give a second one for the paired spread of B − A."),
        n: Optional[list[int]] = typer.Option(None, "--n", help="Numbers of videos to tabulate (default 10 20 50 100 200)."),
        diff: Optional[list[str]] = typer.Option(None, "--diff", help="[METRIC=]difference: report the N needed for it."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write power.csv here."),
        fmt: str = typer.Option("table", "--format", help="table | md"),
    ):
        """Per-video spread and minimum detectable difference (80 % power, α = 0.05) per metric."""
        from evalkit.stats.power import N_GRID
        from evalkit.stats.power_table import power_table, render
        from evalkit.stats.runs import load_run

        if len(runs) > 2:
            raise EvalkitError("power takes one run, or two for the paired spread", hint="evalkit power RUN [RUN_B]")
        if fmt not in ("table", "md"):
            raise EvalkitError(f"unknown format '{fmt}'", hint="choose table or md")
        if n and min(n) < 2:
            raise EvalkitError(f"--n {min(n)}: a spread needs at least 2 videos", hint="give --n 2 or more")
        loaded = [load_run(r) for r in runs]
        frame = power_table(loaded[0], loaded[1] if len(loaded) > 1 else None, tuple(n or N_GRID),
                            parse_diffs(diff or []))
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            frame.to_csv(out / "power.csv", index=False, float_format="%.10g")
        typer.echo(render(frame, fmt), nl=False)
