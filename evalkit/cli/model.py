"""``evalkit train m2p`` and ``evalkit run-model m2p``: train the reference model, generate a split and score it."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evalkit.errors import EvalkitError



def _echo(text: str, end: str = "\n") -> None:
    typer.echo(text, nl=end == "\n", err=True)


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        model: str = typer.Argument(..., help="Model to train: m2p or posedit."),
        stage: Optional[str] = typer.Option(None, "--stage", help="Stage 0 (tiny VAE), 1 (M2PEnc), 2 (image), 3 (temporal), "
                                                       "or a comma list run in order, e.g. 0,2,1,3 "
                                                       "(posedit: vae, dit; default vae,dit)."),
        config: str = typer.Option("tiny", "--config", help="tiny | full"),
        data: Optional[Path] = typer.Option(None, "--data", help="SDGPip root (`evalkit data synth`); default: "
                                                                 "the embedded synth split."),
        dataset: str = typer.Option("synth", "--dataset", help="synth | aistpp (with --data as its root)."),
        part: str = typer.Option("train", "--part", help="Split part to train on."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/m2p-<config>)."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Steps (default: the config's recipe)."),
        batch: Optional[int] = typer.Option(None, "--batch", help="Batch size (frames or clips)."),
        lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
        resume: bool = typer.Option(False, "--resume", help="Continue the stage from its last checkpoint."),
        init: Optional[Path] = typer.Option(None, "--init", help="Start from this m2p checkpoint."),
        weights: Optional[Path] = typer.Option(None, "--weights", help="full: pretrained weights folder (CHAMP tree)."),
        max_minutes: Optional[float] = typer.Option(None, "--max-minutes",
                                                    help="Training-time budget (all listed stages)."),
        export: Optional[Path] = typer.Option(None, "--export", help="Also write the result here as fp16 safetensors."),
        jobs: int = typer.Option(1, "--jobs", "-j", help="Processes for loading clips."),
        seed: int = typer.Option(0, "--seed"),
        route: Optional[str] = typer.Option(None, "--route", help="m2p: keypoints (the committed tiny's) or paper "
                                                                   "(M2PEnc's guidance drives stages 2 and 3)."),
    ) -> None:
        """Train the m2p reference model (resumable; progress and losses in <out>/stage<N>/)."""
        if model == "posedit" and route is not None:
            raise EvalkitError("--route is an m2p option", hint="posedit has one route: vae, then dit")
        if model == "posedit":  # its own trainer (models/posedit/train.py); --weights is m2p-only
            from evalkit.models.posedit.train import train_cli

            train_cli(stage, config, data, dataset, part, out, steps, batch, lr, resume, init, max_minutes, export, seed,
                      weights, _echo, jobs)
            return
        if model != "m2p":
            raise EvalkitError(f"cannot train '{model}'", hint="trainable models: m2p, posedit")
        if stage is None:
            raise EvalkitError("m2p needs --stage", hint="e.g. --stage 0,2,1,3")
        from evalkit.data.registry import get_split
        from evalkit.models.m2p.config import get_config
        from evalkit.models.m2p.train import TrainOptions, export as export_ckpt, parse_stages, run_stages

        stages = parse_stages(stage)
        cfg = get_config(config, route=route)
        out = out or Path("runs") / f"m2p-{config}"
        if config == "full" and init is None and not (out / "latest.safetensors").is_file() and not resume:
            if weights is None:
                raise EvalkitError("the full config starts from pretrained weights", hint="pass --weights DIR")
            from evalkit.models.m2p.load_full import load_full
            from evalkit.models.m2p.model import save_checkpoint

            full, report = load_full(weights, cfg)
            init = save_checkpoint(full, out / "pretrained.safetensors", {"stages": ["0", "2"], "load": report})
        split = get_split(dataset, part, data)
        opts = TrainOptions(stage=stages[0], out=out, steps=steps, batch=batch, lr=lr, resume=resume, init=init,
                            max_minutes=max_minutes, seed=seed)
        run_stages(cfg, split, stages, opts, jobs=jobs, echo=_echo)
        if export:
            export_ckpt(out / "latest.safetensors", export)
            _echo(f"exported {export} ({export.stat().st_size / 1e6:.1f} MB)")

    @app.command("run-model")
    def run_model_cmd(
        model: str = typer.Argument(..., help="A generator: m2p, gt-pose, retrieval, beat-procedural, shuffled-music, "
                                              "static (see evalkit.generators)."),
        split: str = typer.Option("test", "--split", help="Split part (test | train | val) or a board name "
                                                          "(synth-test, synth-bench, wild, aistpp-test)."),
        dataset: str = typer.Option("synth", "--dataset", help="synth | aistpp | wild"),
        root: Optional[Path] = typer.Option(None, "--root", help="Dataset root (synth: embedded default)."),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="m2p checkpoint (default: bundled tiny)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<model>-<dataset>-<split>-<date>)."),
        music: str = typer.Option("own", "--music", help="own | shifted (clip i driven by clip i+1's music)."),
        steps: Optional[int] = typer.Option(None, "--steps", help="DDIM steps (default: the config's)."),
        cfg_scale: Optional[float] = typer.Option(None, "--cfg", help="Classifier-free guidance scale."),
        seed: int = typer.Option(0, "--seed", help="Seed of the first clip (clip i uses seed + i)."),
        metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated (default: every metric)."),
        device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda (default: cuda when present)."),
        no_score: bool = typer.Option(False, "--no-score", help="Only generate."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N clips."),
        jobs: int = typer.Option(1, "--jobs", "-j", help="Scoring worker processes."),
        opt: list[str] = typer.Option([], "--opt", help="Generator option KEY=VALUE (repeatable), e.g. pose_backend=dwpose."),
        max_memory: Optional[str] = typer.Option(None, "--max-memory", help="Scoring's memory budget, e.g. 4G "
                                                 "(default: half the available RAM; docs/memory.md)."),
        no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html into the run folder."),
    ) -> None:
        """Generate the split's videos into a run folder with progress, score them and print the table. Exit 0:
        every metric has a value for every video; 3: some metric failed on some video (one line per reason under
        the table); 2: bad input."""
        from evalkit.generators import GENERATORS
        from evalkit.runner import parse_generator_options, run_model

        if model not in GENERATORS:
            raise EvalkitError(f"unknown model '{model}'", hint=f"choose from: {', '.join(GENERATORS)}")
        if music not in ("own", "shifted"):
            raise EvalkitError(f"unknown --music '{music}'", hint="choose own or shifted")
        options = parse_generator_options(opt)
        if max_memory is not None:  # checked before minutes of generation
            from evalkit.memory import parse_size

            max_memory = parse_size(max_memory)
        given = {"checkpoint": checkpoint, "steps": steps, "cfg_scale": cfg_scale}
        if any(v is not None for v in given.values()) and model not in ("m2p", "posedit"):
            raise EvalkitError("--checkpoint, --steps and --cfg are m2p and posedit options", hint=f"'{model}' takes --opt KEY=VALUE")
        options.update({k: (str(v) if isinstance(v, Path) else v) for k, v in given.items() if v is not None})
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        df = run_model(model, split=split, dataset=dataset, root=root, out=out, seed=seed, limit=limit, metrics=names,
                       device=device, jobs=jobs, shuffle_music=music == "shifted", options=options,
                       score_videos=not no_score, max_memory=max_memory)
        if df is None:
            return
        from evalkit.results.table import EXIT_INCOMPLETE, failure_lines, render

        typer.echo(render(df, "table"), nl=False)
        failures = failure_lines(df.attrs["record"], df)  # under the table: each reason once, with its fix
        for line in failures:
            typer.echo(line, err=True)
        typer.echo(f"wrote {df.attrs['run_dir'] / 'results.json'}", err=True)
        if not no_report:
            from evalkit.cli.report import write_run_report

            write_run_report(df.attrs["run_dir"])
        if failures:
            raise typer.Exit(EXIT_INCOMPLETE)
