"""``evalkit plot beats VIDEO``: a picture of 2D-BeatAlign for one video (drawn by evalkit.report.beats)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    plot_app = typer.Typer(help="Pictures of what a metric saw.", no_args_is_help=True)
    app.add_typer(plot_app, name="plot")

    @plot_app.command("beats")
    def beats_cmd(
        video: Path = typer.Argument(..., help="Dance video (its music: a sidecar, the container, or --audio DIR)."),
        out: Optional[Path] = typer.Option(None, "--out", help="PNG to write (default: VIDEO_STEM.beats.png here)."),
        audio: Optional[Path] = typer.Option(None, "--audio", help="Folder of music files named like the video."),
        preset: str = typer.Option("bailando", "--preset", help="BeatAlign preset: bailando | fact."),
        pose: Optional[str] = typer.Option(None, "--pose", help="Pose backend (default: the preset's)."),
    ):
        """Kinetic velocity with motion beats, music beats and their matches, as a PNG."""
        from evalkit.metrics.beat_align import MOTION_TO_MUSIC, MUSIC_TO_MOTION
        from evalkit.report.beats import beat_plot

        fig, res = beat_plot(video, audio, preset, pose)
        out = out or Path(f"{video.stem}.beats.png")
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
        typer.echo(f"wrote {out}  (music→motion {res[MUSIC_TO_MOTION]:.4f}, "
                   f"motion→music {res[MOTION_TO_MUSIC]:.4f})")
