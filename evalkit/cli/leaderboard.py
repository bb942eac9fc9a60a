"""``evalkit leaderboard``: run the baselines onto a board, build the CSVs, check them for drift, show them."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evalkit.errors import EvalkitError

DIR_HELP = "Leaderboard folder (holds results/ and the CSVs)."


def _splits(split: Optional[str]) -> list[str]:
    from evalkit.leaderboard import BOARDS, check_split

    if split is None:
        return list(BOARDS)
    check_split(split)
    return [split]


def parse_tolerances(items: list[str]) -> dict[str, tuple[float, float]]:
    """['ssim=0.001', 'fvd=1:0.01'] -> {'ssim': (0.001, 0.0), 'fvd': (1.0, 0.01)} (absolute[:relative])."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            parts = [float(v) for v in value.split(":")]
            if not sep or not name or len(parts) > 2 or min(parts) < 0:
                raise ValueError
        except ValueError:
            raise EvalkitError(f"bad --tolerance '{item}'", hint="write METRIC=ABS or METRIC=ABS:REL, e.g. ssim=0.001") from None
        out[name] = (parts[0], parts[1] if len(parts) == 2 else 0.0)
    return out


def register(app: typer.Typer) -> None:
    lb = typer.Typer(help="Leaderboards: run models onto a board, build the CSVs, check for drift.", no_args_is_help=True)
    app.add_typer(lb, name="leaderboard")

    @lb.command("run")
    def run_cmd(
        split: str = typer.Option(..., "--split", help="synth-test | synth-bench | wild | aistpp-test"),
        models: Optional[str] = typer.Option(None, "--models", help="Comma-separated (default: every baseline)."),
        root: Optional[Path] = typer.Option(None, "--root", help="Dataset root (wild: ../shared/data/wild; aistpp: required)."),
        board_dir: Path = typer.Option(Path("leaderboards"), "--dir", help=DIR_HELP),
        work: Optional[Path] = typer.Option(None, "--work", help="Run folders (default runs/leaderboard-<split>)."),
        device: str = typer.Option("cpu", "--device", help="cpu | cuda"),
        jobs: int = typer.Option(1, "--jobs", "-j", help="Scoring worker processes."),
        build_too: bool = typer.Option(True, "--build/--no-build", help="Rebuild the board's CSV afterwards."),
    ) -> None:
        """Run models on a board's split and store their results under <dir>/results/<split>/."""
        from evalkit.generators import BASELINES
        from evalkit.leaderboard import build, run_board, store_run

        names = [m.strip() for m in models.split(",") if m.strip()] if models else list(BASELINES)
        runs = run_board(split, names, board_dir, root, work, device, jobs, progress=True)
        for model, run_dir in runs.items():
            typer.echo(f"{model}: stored {store_run(run_dir, split, board_dir)}")
        if build_too:
            typer.echo(f"wrote {build(split, board_dir)}")

    @lb.command("add")
    def add_cmd(
        run_dir: Path = typer.Argument(..., help="A run folder made by `evalkit run-model` (holds results.json)."),
        split: str = typer.Option(..., "--split", help="synth-test | synth-bench | wild | aistpp-test"),
        board_dir: Path = typer.Option(Path("leaderboards"), "--dir", help=DIR_HELP),
    ) -> None:
        """Store one run's results on a board (then `evalkit leaderboard build`)."""
        from evalkit.leaderboard import check_split, store_run

        check_split(split)
        if not (run_dir / "results.json").is_file():
            raise EvalkitError("no results.json in the run folder", path=run_dir, hint="score the run first")
        typer.echo(f"stored {store_run(run_dir, split, board_dir)}")

    @lb.command("build")
    def build_cmd(
        split: Optional[str] = typer.Option(None, "--split", help="One board (default: every board)."),
        board_dir: Path = typer.Option(Path("leaderboards"), "--dir", help=DIR_HELP),
    ) -> None:
        """Write <dir>/<split>.csv from the committed results (byte-identical for the same results)."""
        from evalkit.leaderboard import build

        for name in _splits(split):
            typer.echo(f"wrote {build(name, board_dir)}")

    @lb.command("check")
    def check_cmd(
        split: str = typer.Option("synth-test", "--split", help="The board to check."),
        results: Optional[Path] = typer.Option(None, "--results", help="Fresh results (<model>/results.json) to "
                                                                       "compare instead of recomputing."),
        models: Optional[str] = typer.Option(None, "--models", help="Models to recompute (default: static, "
                                                                    "beat-procedural)."),
        tolerance: list[str] = typer.Option([], "--tolerance", help="METRIC=ABS[:REL] (repeatable)."),
        root: Optional[Path] = typer.Option(None, "--root", help="Dataset root for recomputing."),
        board_dir: Path = typer.Option(Path("leaderboards"), "--dir", help=DIR_HELP),
        device: str = typer.Option("cpu", "--device", help="cpu | cuda"),
        jobs: int = typer.Option(1, "--jobs", "-j", help="Scoring worker processes."),
    ) -> None:
        """Recompute (or read fresh) results and compare with the committed CSV; exit 1 on drift."""
        from evalkit.leaderboard import check, stale

        names = [m.strip() for m in models.split(",") if m.strip()] if models else None
        problems = 0
        if stale(split, board_dir):
            typer.echo(f"{board_dir / (split + '.csv')}: differs from what `evalkit leaderboard build` makes from "
                       f"{board_dir / 'results' / split} — rebuild it, never edit it by hand")
            problems += 1
        drifts, compared = check(split, board_dir, results, names, parse_tolerances(tolerance), root,
                                 device=device, jobs=jobs)
        for d in drifts:
            typer.echo(d.line())
        if drifts or problems:
            typer.echo(f"{split}: {len(drifts)} cell(s) changed, shown as new (old) — if intended, rerun "
                       f"`evalkit leaderboard run --split {split}` and commit the rebuilt board")
            raise typer.Exit(1)
        typer.echo(f"{split}: no drift ({', '.join(compared)} within tolerance)")

    @lb.command("show")
    def show_cmd(
        split: str = typer.Option("synth-test", "--split", help="The board to show."),
        fmt: str = typer.Option("md", "--format", help="md | csv"),
        board_dir: Path = typer.Option(Path("leaderboards"), "--dir", help=DIR_HELP),
    ) -> None:
        """Print a board (Markdown for the README, or its CSV)."""
        from evalkit.leaderboard import check_split, markdown, read_board, to_csv

        check_split(split)
        rows = read_board(board_dir / f"{split}.csv")
        if fmt not in ("md", "csv"):
            raise EvalkitError(f"unknown --format '{fmt}'", hint="choose md or csv")
        typer.echo(markdown(rows) if fmt == "md" else to_csv(rows), nl=False)

    @lb.command("site")
    def site_cmd(
        out: Path = typer.Option(..., "--out", help="Folder for the static site (index.html, <split>.html)."),
        board_dir: Path = typer.Option(Path("leaderboards"), "--dir", help=DIR_HELP),
        reports: bool = typer.Option(True, "--reports/--no-reports", help="Generate each row's run report."),
    ) -> None:
        """Static, sortable pages of every board, generated from its CSV (evalkit.report.site)."""
        from evalkit.report.site import build_site

        pages = build_site(board_dir, out, reports=reports)
        typer.echo(f"wrote {len(pages)} pages into {out} (open {out / 'index.html'})", err=True)
