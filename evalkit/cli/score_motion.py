"""``evalkit score-motion``: FID_k / FID_g / Div_k / Div_g / PFC / 3D BeatAlign over sets of 3D motions."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evalkit.errors import EvalkitError


def register(app: typer.Typer) -> None:
    @app.command("score-motion")
    def score_motion_cmd(
        pred: Path = typer.Option(..., "--pred", help="Folder of generated motions (.npy (T,24,3) metres, or .pkl)."),
        gt: Optional[Path] = typer.Option(None, "--gt", help="Folder of ground-truth motions (the reference set; "
                                                             "any number; not needed for pfc)."),
        music: Optional[Path] = typer.Option(None, "--music", help="Folder of music named like the motions "
                                                                   "(beat_align_3d)."),
        fps: float = typer.Option(60.0, "--fps", help="Frame rate of the motions."),
        up: str = typer.Option("y", "--up", help="Up axis of the motions: y (AIST++, Bailando) | z (EDGE)."),
        metrics: Optional[str] = typer.Option(None, "--metrics", "-m",
                                              help="Comma-separated: fid_k,fid_g,div_k,div_g,pfc,beat_align_3d "
                                                   "(default: those the inputs allow)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write results.json and per_video.csv here."),
        fmt: str = typer.Option("table", "--format", help="table | csv | md | latex"),
        bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap replicates for the intervals."),
    ):
        """Score a set of generated 3D dance motions (against a ground-truth set)."""
        from evalkit.motion.score import score_motion
        from evalkit.results.table import FORMATS, render

        if fmt not in FORMATS:
            raise EvalkitError(f"unknown --format '{fmt}'", hint=f"choose one of: {', '.join(FORMATS)}")
        names = tuple(m.strip() for m in metrics.split(",") if m.strip()) if metrics else None
        agg = score_motion(pred, gt, metrics=names, fps=fps, up=up, music_dir=music, bootstrap=bootstrap, out=out)
        for warning in agg.attrs["warnings"]:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(render(agg, fmt), nl=False)
        if out is not None:
            typer.echo(f"wrote {out / 'results.json'} and {out / 'per_video.csv'}", err=True)
