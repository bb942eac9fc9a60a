"""``evalkit score``: score predicted videos against ground truth with the chosen metrics."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from evalkit.errors import EvalkitError
from evalkit.metrics import DEFAULT_METRICS, REGISTRY  # the registry module alone: no metric is imported


def parse_options(items: list[str]) -> dict[str, dict]:
    """['fvd.protocol=stylegan-v', 'lpips.weights=/x.pth'] -> {'fvd': {'protocol': 'stylegan-v'}, ...}. Values
    stay text: the metric coerces them to its declared types (evalkit.options), as for the Python API."""
    out: dict[str, dict] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise EvalkitError(f"bad --opt '{item}'", hint="write METRIC.KEY=VALUE, e.g. fvd.protocol=stylegan-v")
        key, value = item.split("=", 1)
        metric, name = key.split(".", 1)
        out.setdefault(metric.strip(), {})[name.strip()] = value
    return out


def stats_takers(names) -> list[str]:
    """The requested metrics that take a reference statistics file (declare ``takes_gt_stats``): ``--gt-stats``
    goes to each as its ``gt_stats`` option (an explicit ``--opt METRIC.gt_stats`` wins)."""
    from evalkit.metrics import metric_class

    takers = [name for name in names if metric_class(name).takes_gt_stats]
    if not takers:
        known = [name for name in REGISTRY if metric_class(name).takes_gt_stats]
        raise EvalkitError("--gt-stats: no requested metric takes reference statistics",
                           hint=f"add one of {', '.join(known)} to --metrics")
    return takers


def parse_shard(value: str | None):
    if not value:
        return None
    try:
        index, count = (int(x) for x in value.split("/"))
    except ValueError:
        raise EvalkitError(f"bad --shard '{value}'", hint="write INDEX/COUNT, e.g. 0/4") from None
    if not 0 <= index < count:
        raise EvalkitError(f"bad --shard '{value}'", hint="INDEX must be in 0..COUNT-1")
    return index, count


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_cmd(
        pred: Path = typer.Option(..., "--pred", help="Folder (or file) of generated videos."),
        gt: Optional[Path] = typer.Option(None, "--gt", help="Folder of ground-truth videos, paired by relative stem."),
        metrics: str = typer.Option(",".join(DEFAULT_METRICS), "--metrics", "-m",
                                    help=f"Comma-separated metric names: {', '.join(REGISTRY)}."),
        preset: str = typer.Option("clean", "--preset", help="clean | disco | disco-v1 | jh (metrics without it use their default)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write results.json and per_video.csv here."),
        device: str = typer.Option("cpu", "--device",
                                   help="cpu | cuda | cuda:N | cuda:0,1 (several GPUs: the --jobs workers take turns)"),
        fmt: str = typer.Option("table", "--format", help="table | csv | md | latex"),
        jobs: int = typer.Option(1, "--jobs", "-j",
                                 help="Worker processes; each decodes and scores whole videos (CPU or GPU)."),
        length: str = typer.Option("error", "--length", help="Unequal frame counts: error | truncate."),
        resize_pred_to_gt: bool = typer.Option(False, "--resize-pred-to-gt", help="Bilinear-resize predictions to the GT size (DisCo)."),
        ignore_fps: bool = typer.Option(False, "--ignore-fps", help="Score pairs whose fps differ (counted)."),
        allow_missing_pred: bool = typer.Option(False, "--allow-missing-pred", help="Score only GT videos that have a prediction."),
        audio: Optional[Path] = typer.Option(None, "--audio", help="Folder of music files named like the videos."),
        fps: Optional[float] = typer.Option(None, "--fps", help="fps of frame folders without fps.txt."),
        gt_stats: Optional[Path] = typer.Option(None, "--gt-stats", help="Reference statistics (.npz from `evalkit stats make`) for the requested metrics that take them (e.g. fvd)."),
        opt: list[str] = typer.Option([], "--opt", help="Metric option METRIC.KEY=VALUE (repeatable)."),
        shard: Optional[str] = typer.Option(None, "--shard", help="Score shard INDEX/COUNT and write its state to --out."),
        max_memory: Optional[str] = typer.Option(None, "--max-memory", help="Memory budget for decoded frames and "
                                                 "metric batches, e.g. 4G (default: half the available RAM; "
                                                 "docs/memory.md). Changes no value."),
        no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html into --out."),
    ):
        """Score predicted videos against ground truth. Exit 0: every metric has a value for every video; 3: some
        metric failed on some video (one line per reason under the table; results are still written); 2: bad
        input."""
        from evalkit import trace

        trace.event("cli_start")
        if jobs > 1:  # the workers' forkserver imports while this process does (before its own torch import)
            from evalkit import execution

            execution.context(m.strip() for m in metrics.split(","))
        from evalkit.results.table import EXIT_INCOMPLETE, FORMATS, failure_lines, render
        from evalkit.scoring import ScoreConfig, finish, run, run_distributed, runtime_for

        if fmt not in FORMATS:
            raise EvalkitError(f"unknown --format '{fmt}'", hint=f"choose one of: {', '.join(FORMATS)}")
        if length not in ("error", "truncate"):
            raise EvalkitError(f"unknown --length '{length}'", hint="choose error or truncate")
        names = tuple(m.strip() for m in metrics.split(",") if m.strip())
        options = parse_options(opt)
        if gt_stats is not None:
            for name in stats_takers(names):
                options.setdefault(name, {}).setdefault("gt_stats", str(gt_stats))
        cfg = ScoreConfig(metrics=names, preset=preset, device=device, jobs=jobs, length=length,
                          resize_pred_to_gt=resize_pred_to_gt, ignore_fps=ignore_fps,
                          allow_missing_pred=allow_missing_pred, audio_dir=str(audio) if audio else None, fps=fps,
                          metric_options=options, shard=parse_shard(shard))
        runtime = runtime_for(max_memory)
        if shard and out is None:
            raise EvalkitError("--shard needs --out (the shard's state is written there for `evalkit merge`)")
        from evalkit.execution import is_distributed_launch
        from evalkit.results.outdir import claimed

        # --out is made, checked and locked before any scoring (only rank 0 of a distributed run writes it)
        with claimed(out if os.environ.get("RANK", "0") == "0" else None):
            if is_distributed_launch():
                scorer = run_distributed(pred, gt, cfg, progress=True)
                if scorer is None:  # ranks other than 0 have handed their state to rank 0
                    return
            else:
                scorer = run(pred, gt, cfg, progress=True, runtime=runtime)
            if shard:
                from evalkit.shards import save_shard

                save_shard(scorer, out)
            agg = finish(scorer, out)
        trace.event("finished")
        typer.echo(render(agg, fmt), nl=False)
        failures = failure_lines(agg.attrs["record"], agg)  # under the table: each reason once, with its fix
        for line in failures:
            typer.echo(line, err=True)
        if out is not None:
            typer.echo(f"wrote {out / 'results.json'} and {out / 'per_video.csv'}", err=True)
            if not (no_report or shard):  # a shard's results are partial: its report comes after `evalkit merge`
                from evalkit.cli.report import write_run_report

                write_run_report(out)
        if failures:
            raise typer.Exit(EXIT_INCOMPLETE)
