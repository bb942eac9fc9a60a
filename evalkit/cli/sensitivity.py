"""``evalkit sensitivity``: the metric-validity suite — controlled damage to seeded SDGPip clips and real music
videos, each sync metric's response with its interval (a table and one PNG per metric)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evalkit.errors import EvalkitError


def register(app: typer.Typer) -> None:
    @app.command("sensitivity")
    def sensitivity_cmd(
        out: Path = typer.Option(Path("docs/img"), "--out", help="Folder for sensitivity_table.{csv,md} and the PNGs."),
        clips: int = typer.Option(12, "--clips", min=2, help="Seeded SDGPip clips (0 < N; ≥ 12 for the docs)."),
        seconds: float = typer.Option(4.0, "--seconds", help="Length of each SDGPip clip."),
        seed: int = typer.Option(0, "--seed", help="SDGPip seed."),
        wild: Optional[Path] = typer.Option(None, "--wild", help="A folder of real music videos (default: "
                                            "$EVALKIT_SHARED/data/wild when set)."),
        no_wild: bool = typer.Option(False, "--no-wild", help="Only the SDGPip clips."),
        damage: list[str] = typer.Option([], "--damage", help="Only these damages (repeatable); default: all."),
    ):
        """Apply each damage, score with BeatAlign and AV-Align (and their nulls), write the table and figures."""
        import pandas as pd

        from evalkit.sensitivity import clips as sources_mod
        from evalkit.sensitivity.damages import SYNC
        from evalkit.sensitivity.plot import write_figures
        from evalkit.sensitivity.suite import SYNC_METRICS, run, write_table

        unknown = [d for d in damage if d not in SYNC]
        if unknown:
            raise EvalkitError(f"unknown damage(s) {', '.join(unknown)}", hint=f"choose from: {', '.join(SYNC)}")
        damages = {name: SYNC[name] for name in (damage or SYNC)}
        sources = {"synth": sources_mod.synth_clips(clips, seconds, seed=seed)}
        if not no_wild:
            folder = wild
            if folder is None:
                from evalkit.paths import shared_dir

                shared = shared_dir()
                folder = shared / "data" / "wild" if shared else None
            if folder is None:
                raise EvalkitError("no real clips: EVALKIT_SHARED is not set",
                                   hint="pass --wild DIR, set EVALKIT_SHARED, or use --no-wild")
            sources["wild"] = sources_mod.wild_clips(folder)
        rows = run(sources, damages, progress=typer.echo)
        csv, md = write_table(rows, out)
        pngs = write_figures(pd.DataFrame(rows), out, SYNC_METRICS)
        for path in (csv, md, *pngs):
            typer.echo(f"wrote {path}")
