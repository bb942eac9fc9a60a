"""``evalkit data``: list datasets and samples, validate a dataset root, generate SDGPip data."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evalkit.errors import EvalkitError


def _ls(dataset: Optional[str], root: Optional[Path], part: str) -> None:
    from evalkit.data.registry import DATASETS, get_split

    if dataset is None:
        from evalkit.data.synth.default import default_root

        cached = (default_root() / "sdgpip.json").is_file()
        for name, text in DATASETS.items():
            typer.echo(f"{name:8s} {text}")
        state = "generated" if cached else "not generated yet: made on first use"
        typer.echo(f"\nembedded default: {default_root()} ({state})")
        return
    if dataset == "synth" and root is None:
        from evalkit.data.synth.default import default_root

        if not (default_root() / "sdgpip.json").is_file():
            typer.echo(f"making the default synth split in {default_root()} (first use, ~15 s)", err=True)
    split = get_split(dataset, part, root)
    typer.echo(f"{split.name}: {len(split)} sample(s)" + (f", {len(split.skipped)} left out" if split.skipped else ""))
    for sample in split:
        beats = f"{len(sample.beats)} beats" if sample.beats is not None else "-"
        typer.echo(f"  {sample.id}  {sample.num_frames} frames @ {sample.fps:g} fps  music={sample.music.name}  {beats}"
                   + (f"  maps={','.join(sorted(sample.guidance))}" if sample.guidance else ""))
    for key, reason in split.skipped.items():
        typer.echo(f"  left out: {key} ({reason})")


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Datasets: list, validate, generate synthetic (SDGPip) data.", no_args_is_help=True)
    app.add_typer(data_app, name="data")

    @data_app.command("ls")
    def ls_cmd(
        dataset: Optional[str] = typer.Argument(None, help="synth | aistpp | wild; omit to list the datasets."),
        root: Optional[Path] = typer.Option(None, "--root", help="Dataset folder (synth: default embedded split)."),
        part: str = typer.Option("test", "--part", help="train | val | test"),
    ) -> None:
        """List the datasets, or the samples of one split."""
        _ls(dataset, root, part)

    @data_app.command("validate")
    def validate_cmd(
        root: Path = typer.Argument(..., help="Dataset root folder."),
        dataset: str = typer.Option("aistpp", "--dataset", help="aistpp | wild | synth"),
    ) -> None:
        """Report every problem in a dataset root (not only the first); exit 2 when there is any."""
        from evalkit.data.registry import validate

        problems = validate(dataset, root)
        for line in problems:
            typer.echo(line)
        if problems:
            raise EvalkitError(f"{len(problems)} problem(s) found", path=root, hint="fix the files listed above")
        typer.echo(f"{root}: valid {dataset} dataset")

    @data_app.command("synth")
    def synth_cmd(
        out: Path = typer.Option(..., "--out", help="New or empty output folder."),
        train: int = typer.Option(8, "--train", help="Training clips."),
        test: int = typer.Option(4, "--test", help="Test clips."),
        seconds: float = typer.Option(5.0, "--seconds", help="Clip length (s)."),
        size: int = typer.Option(256, "--size", help="Frame side (pixels, multiple of 4)."),
        fps: float = typer.Option(30.0, "--fps", help="Frame rate."),
        seed: int = typer.Option(0, "--seed", help="Seed: same seed, same bytes."),
        maps: str = typer.Option("rgb,depth,normal,semantic,skeleton,heatmap", "--maps",
                                 help="Comma-separated maps to write (rgb is required)."),
        lossy: bool = typer.Option(False, "--lossy", help="yuv420p H.264 (plays everywhere) instead of lossless RGB."),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (0: up to 4, one per CPU)."),
        choreography: str = typer.Option("harmony", "--choreography",
                                         help="harmony: each bar's chord picks its move; random: the dancer's "
                                              "preferences and the seed do."),
    ) -> None:
        """Generate an SDGPip dataset in the AIST++ layout (plus guidance maps and reference images)."""
        from evalkit.data.synth.pipeline import SynthConfig, default_jobs, generate

        cfg = SynthConfig(train=train, test=test, seconds=seconds, size=size, fps=fps, seed=seed,
                          maps=tuple(m.strip() for m in maps.split(",") if m.strip()), lossless=not lossy,
                          choreography=choreography)

        def progress(done: int, total: int) -> None:
            typer.echo(f"\r{done}/{total} clips", nl=done == total, err=True)

        manifest = generate(out, cfg, jobs=jobs or default_jobs(), progress=progress)
        frames = sum(c["num_frames"] for c in manifest["clips"])
        typer.echo(f"wrote {len(manifest['clips'])} clips ({frames} frames) to {out}")
