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
        metric: list[str] = typer.Option([], "--metric", help="Only these metrics (repeatable); default: all of "
                                         "the suite."),
        suite: str = typer.Option("sync", "--suite", help="sync (BeatAlign, AV-Align and their nulls) or "
                                  "appearance (SSIM, PSNR, LPIPS, FVD, KVD against the clean clip)."),
        cut: Optional[float] = typer.Option(None, "--cut", help="Score each clip's first N seconds only (the "
                                            "appearance suite on CPU)."),
        use: Optional[int] = typer.Option(None, "--use", min=2, help="Score the first N clips of each source only "
                                          "(the appearance suite on CPU)."),
    ):
        """Apply each damage, score with the suite's metrics, write the table and one figure per metric."""
        import pandas as pd

        from evalkit.sensitivity import clips as sources_mod
        from evalkit.sensitivity.appearance import APPEARANCE
        from evalkit.sensitivity.damages import SYNC
        from evalkit.sensitivity.plot import appearance_figure, write_figures
        from evalkit.sensitivity.suite import APPEARANCE_METRICS, SYNC_METRICS, appearance_markdown, run, \
            run_appearance, write_table

        suites = {"sync": (SYNC, SYNC_METRICS), "appearance": (APPEARANCE, APPEARANCE_METRICS)}
        if suite not in suites:
            raise EvalkitError(f"unknown suite '{suite}'", hint=f"choose {' or '.join(suites)}")
        all_damages, all_metrics = suites[suite]
        unknown = [d for d in damage if d not in all_damages]
        if unknown:
            raise EvalkitError(f"unknown damage(s) {', '.join(unknown)}",
                               hint=f"choose from: {', '.join(all_damages)}")
        damages = {name: all_damages[name] for name in (damage or all_damages)}
        if [m for m in metric if m not in all_metrics]:
            raise EvalkitError(f"unknown metric(s) {', '.join(m for m in metric if m not in all_metrics)}",
                               hint=f"choose from: {', '.join(all_metrics)}")
        metrics = {name: all_metrics[name] for name in (metric or all_metrics)}
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
        sources = {name: [sources_mod.cut(c, cut) if cut else c for c in given[:use]]
                   for name, given in sources.items()}
        if suite == "appearance":
            rows = run_appearance(sources, damages, metrics, progress=typer.echo)
            csv, md = write_table(rows, out, "sensitivity_appearance", appearance_markdown)
            pngs = write_figures(pd.DataFrame(rows), out, metrics, appearance_figure)
        else:
            rows = run(sources, damages, metrics, progress=typer.echo)
            csv, md = write_table(rows, out)
            pngs = write_figures(pd.DataFrame(rows), out, metrics)
        for path in (csv, md, *pngs):
            typer.echo(f"wrote {path}")
