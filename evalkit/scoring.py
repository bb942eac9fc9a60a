"""The scoring engine behind ``evalkit score`` and ``evalkit.score``: pair → decode (workers) → metrics.

Every video is decoded once and fed to every metric's streaming state; per-video rows and the
aggregate come out as pandas DataFrames, with a results record (settings, metric identities,
package versions, counts) that :func:`evalkit.results.schema.write_results` stores.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from evalkit import execution, trace
from evalkit.errors import EvalkitError
from evalkit.execution import check_devices, devices_of
from evalkit.io.audio import audio_for_video
from evalkit.io.item import ScoreItem
from evalkit.io.pairing import PairPaths, pair_dirs, reconcile
from evalkit.io.video import decode_video
from evalkit.metrics import DEFAULT_METRICS, build, metric_class
from evalkit.results.schema import AGGREGATE_COLUMNS, build_record
from evalkit.runtime import Runtime


@dataclass
class ScoreConfig:
    metrics: tuple[str, ...] = DEFAULT_METRICS
    preset: str = "clean"
    device: str = "cpu"
    jobs: int = 1
    length: str = "error"  # error | truncate
    resize_pred_to_gt: bool = False
    ignore_fps: bool = False
    allow_missing_pred: bool = False
    audio_dir: str | None = None
    fps: float | None = None  # for frame folders without fps.txt
    metric_options: dict = field(default_factory=dict)  # metric name -> constructor overrides
    shard: tuple[int, int] | None = None  # (index, count): score pairs[index::count]


def _load_pair(pair: PairPaths, cfg: ScoreConfig):
    """Decode and reconcile one pair (runs in a worker process)."""
    pred = decode_video(pair.pred, cfg.fps)
    if pair.gt is None:
        return pair, pred, None, {}
    gt = decode_video(pair.gt, cfg.fps)
    pred, gt, notes = reconcile(pred, gt, length=cfg.length, resize_pred_to_gt=cfg.resize_pred_to_gt,
                                fps_tolerance=None if cfg.ignore_fps else 1e-3)
    return pair, pred, gt, notes


def iter_items(pairs: list[PairPaths], cfg: ScoreConfig):
    """Yield ScoreItems in order, decoding in this process (``run`` spreads whole pairs over workers)."""
    for pair in pairs:
        start = time.perf_counter()
        pair, pred, gt, notes = _load_pair(pair, cfg)
        trace.event("decoded", video=pair.key, seconds=time.perf_counter() - start)
        yield ScoreItem(pair.key, pred, gt, lambda p=pair.pred: audio_for_video(p, cfg.audio_dir), notes)


#: the toolkit-wide default preset; a metric without it scores with its own default (recorded)
DEFAULT_PRESET = "clean"


def check_config(cfg: ScoreConfig) -> ScoreConfig:
    """The run's settings checked before any video is read — the same for the CLI and the Python API — with the
    metric options coerced to their declared types (docs/options.md). One-line EvalkitError otherwise."""
    if not cfg.metrics:
        raise EvalkitError("no metrics to score", hint=f"e.g. --metrics {','.join(DEFAULT_METRICS)}")
    classes = {name: metric_class(name) for name in cfg.metrics}  # unknown names: one line
    presets = sorted({p for cls in classes.values() for p in cls.presets} | {DEFAULT_PRESET})
    if cfg.preset not in presets:  # exact: presets are lower case, as they are recorded
        close = [p for p in presets if p.lower() == str(cfg.preset).strip().lower()]
        raise EvalkitError(f"no requested metric has preset '{cfg.preset}'",
                           hint=f"write --preset {close[0]} (presets are lower case)" if close else
                           f"presets of {', '.join(cfg.metrics)}: {', '.join(presets)}")
    options = {}
    for name, opts in cfg.metric_options.items():
        if name not in classes:
            raise EvalkitError(f"options given for metric '{name}', which is not among the scored metrics",
                               hint=f"scored: {', '.join(cfg.metrics)} (add it to --metrics, or drop its --opt)")
        opts = dict(opts)
        preset = opts.pop("preset", None)
        if preset is not None and preset not in classes[name].presets:
            raise EvalkitError(f"metric '{name}' has no preset '{preset}'",
                               hint=f"choose one of: {', '.join(classes[name].presets)}")
        options[name] = {**classes[name].check_options(opts), **({"preset": preset} if preset is not None else {})}
    if cfg.fps is not None and not (isinstance(cfg.fps, (int, float)) and math.isfinite(cfg.fps) and cfg.fps > 0):
        raise EvalkitError(f"bad --fps {cfg.fps}", hint="give the frame folders' frame rate, a positive number")
    if not isinstance(cfg.jobs, int) or cfg.jobs < 1:
        raise EvalkitError(f"bad --jobs {cfg.jobs}", hint="give a whole number of worker processes, 1 or more")
    if cfg.length not in ("error", "truncate"):
        raise EvalkitError(f"unknown --length '{cfg.length}'", hint="choose error or truncate")
    devices = devices_of(cfg.device)
    if len(devices) > cfg.jobs:
        raise EvalkitError(f"--device {cfg.device} names {len(devices)} GPUs for {cfg.jobs} worker(s)",
                           hint=f"use --jobs {len(devices)} or more (workers take the GPUs in turn)")
    check_devices(devices)
    return replace(cfg, metric_options=options)


def resolve_preset(name: str, preset: str) -> str:
    """The global preset if the metric has it, else the metric's own default (recorded)."""
    presets = metric_class(name).presets
    return preset if preset in presets else next(iter(presets))


class Scorer:
    """Streaming scorer: holds one state per metric; ``add`` items, then ``finish``. It owns its state: a
    ``snapshot`` (for worker processes, ranks and shard files) and ``merge``/``merge_snapshot`` of another's.

    ``runtime``: how this process runs the metrics (evalkit.runtime); ``metrics``: metric instances to use as
    they are (clones of another Scorer's) instead of building them from ``cfg``."""

    def __init__(self, cfg: ScoreConfig, runtime: Runtime | None = None, metrics: dict | None = None):
        self.cfg = cfg
        self.runtime = runtime or Runtime()
        self.metrics = metrics if metrics is not None else self._build(cfg, self.runtime)
        self.rows: list[dict] = []
        self.errors: list[dict] = []
        self.failed = {name: 0 for name in self.metrics}
        self.notes_total: dict[str, int] = {}

    @staticmethod
    def _build(cfg: ScoreConfig, runtime: Runtime | None) -> dict:
        metrics = {}
        device = devices_of(cfg.device)[0]  # several GPUs: this process merges (and bootstraps FVD) on the first
        for name in cfg.metrics:
            opts = dict(cfg.metric_options.get(name, {}))
            preset = opts.pop("preset", None) or resolve_preset(name, cfg.preset)
            metrics[name] = build(name, preset, device, runtime, **opts)
        return metrics

    def add(self, item: ScoreItem) -> dict:
        row = {"video": item.key, "pred": str(item.pred.path), "gt": str(item.gt.path) if item.gt else "",
               "frames": item.pred.num_frames, "fps": item.pred.fps}
        for key, value in item.notes.items():
            self.notes_total[key] = self.notes_total.get(key, 0) + int(value)
            row[f"note:{key}"] = value
        for name, metric in self.metrics.items():
            if "gt" in metric.needs and item.gt is None:
                raise EvalkitError(f"metric '{name}' needs ground truth", hint="pass --gt DIR")
            metric.check_input(item)  # input it can never score stops the run (one line), not a NaN
        seconds = {name: 0.0 for name in self.metrics}
        values = self._stream(item, {n: m for n, m in self.metrics.items() if m.streams}, seconds)
        for name, metric in self.metrics.items():
            if metric.streams:
                continue
            start = time.perf_counter()
            try:
                values[name] = metric.update(item)
            except EvalkitError as err:  # this metric cannot score this item; the others still do
                values[name] = self._failure(item, name, err)
            seconds[name] = time.perf_counter() - start
        for name in self.metrics:  # columns in metric order, streaming or not
            row.update(values[name])
        trace.event("scored", video=item.key, seconds=seconds)
        self.rows.append(row)
        return row

    def _stream(self, item: ScoreItem, metrics: dict, seconds: dict) -> dict:
        """Feed the streaming metrics the pair chunk by chunk, each chunk decoded once for all of them: one chunk
        of frames is in memory at a time (docs/memory.md). A decoding error stops the run (one line)."""
        values, live = {}, {}
        for name, metric in metrics.items():
            try:
                metric.start_video(item)
                live[name] = metric
            except EvalkitError as err:  # e.g. no music: this metric cannot score this item; the others still do
                values[name] = self._failure(item, name, err)
        if not live:
            return values
        for pred, gt in item.chunks(item.chunk_frames(self.runtime.memory_budget())):
            for name, metric in list(live.items()):
                start = time.perf_counter()
                try:
                    metric.update_chunk(pred, gt)
                except EvalkitError as err:  # this metric cannot score this item; the others still do
                    values[name] = self._failure(item, name, err)
                    del live[name]
                seconds[name] += time.perf_counter() - start
        for name, metric in live.items():
            try:
                values[name] = metric.finish_video()
            except EvalkitError as err:
                values[name] = self._failure(item, name, err)
        return values

    def _failure(self, item: ScoreItem, name: str, err: EvalkitError) -> dict:
        self.failed[name] += 1
        self.errors.append({"video": item.key, "metric": name, "error": str(err)})
        return {name: float("nan")}

    def prepare(self) -> "Scorer":
        """Load every metric's networks now, in the process that will score (a worker, or the only one)."""
        for metric in self.metrics.values():
            metric.prepare()
        return self

    def empty(self) -> "Scorer":
        """A Scorer with the same metrics and zeroed state (sharing their loaded networks)."""
        metrics = {name: metric.clone() for name, metric in self.metrics.items()}
        for metric in metrics.values():
            metric.reset()
        return Scorer(self.cfg, self.runtime, metrics=metrics)

    def snapshot(self) -> dict:
        """A picklable copy of the state: configuration, every metric's state dict, rows, errors and counts."""
        return {
            "config": asdict(self.cfg),
            "states": {name: m.state_dict() for name, m in self.metrics.items()},
            "rows": self.rows,
            "errors": self.errors,
            "failed": self.failed,
            "notes_total": self.notes_total,
        }

    def merge_snapshot(self, snapshot: dict) -> "Scorer":
        """Merge another Scorer's ``snapshot()`` (same metrics and settings) into this one."""
        metrics = {}
        for name, metric in self.metrics.items():
            if name not in snapshot["states"]:
                raise EvalkitError(f"shard lacks metric '{name}'", hint="merge shards scored with the same --metrics")
            metrics[name] = metric.clone()
            metrics[name].load_state_dict(snapshot["states"][name])
        other = Scorer(self.cfg, metrics=metrics)
        other.rows = list(snapshot["rows"])
        other.errors = list(snapshot["errors"])
        other.failed = dict(snapshot["failed"])
        other.notes_total = dict(snapshot["notes_total"])
        return self.merge(other)

    def merge(self, other: "Scorer") -> "Scorer":
        for name, metric in self.metrics.items():
            metric.merge(other.metrics[name])
            self.failed[name] += other.failed[name]
        self.rows += other.rows
        self.errors += other.errors
        for k, v in other.notes_total.items():
            self.notes_total[k] = self.notes_total.get(k, 0) + v
        return self

    def aggregate(self) -> pd.DataFrame:
        records = []
        n_videos = len(self.rows)
        for name, metric in self.metrics.items():
            values = metric.compute()
            counts = metric.counts() if hasattr(metric, "counts") else {}
            for column, value in values.items():
                if column.endswith(("_ci_low", "_ci_high")):
                    continue
                records.append({
                    "metric": name, "column": column, "preset": metric.preset,
                    "direction": "↑" if metric.higher_is_better else "↓", "value": value,
                    "ci_low": values.get(f"{column}_ci_low", math.nan),
                    "ci_high": values.get(f"{column}_ci_high", math.nan),
                    "n_videos": n_videos - self.failed[name], "n_failed": self.failed[name],
                    "frames": counts.get("frames", math.nan), "reference": metric.reference,
                })
        return pd.DataFrame(records, columns=AGGREGATE_COLUMNS)

    def per_video(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows).sort_values("video", kind="stable").reset_index(drop=True)

    def record(self, aggregate: pd.DataFrame) -> dict:
        identities = {}
        for name, metric in self.metrics.items():
            ident = metric.identity()
            if hasattr(metric, "counts"):
                ident["counts"] = metric.counts()
            identities[name] = ident
        counts = {"videos": len(self.rows), "frames": int(sum(r["frames"] for r in self.rows)),
                  "failed": self.failed, **self.notes_total}
        settings = {k: v for k, v in asdict(self.cfg).items()}
        return build_record(aggregate=aggregate, identities=identities, counts=counts, settings=settings,
                            device=self.cfg.device, errors=self.errors)


def score(pred, gt=None, *, metrics=None, preset: str = "clean", device: str = "cpu", jobs: int = 1,
          out: str | Path | None = None, progress: bool = False, max_memory: str | int | None = None,
          **options) -> pd.DataFrame:
    """Score ``pred`` against ``gt`` (directories or single files). Returns the aggregate DataFrame;
    ``df.attrs['per_video']`` holds the per-video rows and ``df.attrs['record']`` the results record.
    ``out`` writes results.json and per_video.csv there. ``max_memory`` ("4G", bytes; None: half the RAM
    available) bounds decoded chunks and metric batches (docs/memory.md); it changes no value."""
    fields = {f.name for f in dataclasses.fields(ScoreConfig)} - {"metrics", "preset", "device", "jobs"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise EvalkitError(f"evalkit.score has no keyword '{unknown[0]}'", hint=f"valid keywords: metrics, preset, "
                           f"device, jobs, out, progress, max_memory, {', '.join(sorted(fields))}")
    runtime = runtime_for(max_memory)
    if isinstance(metrics, str):  # "ssim,psnr" as on the command line
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    cfg = ScoreConfig(metrics=tuple(metrics or DEFAULT_METRICS), preset=preset, device=device, jobs=jobs, **options)
    from evalkit.results.outdir import claimed

    with claimed(out):  # checked and locked before any scoring
        scorer = run(pred, gt, cfg, progress=progress, runtime=runtime)
        return finish(scorer, out)


def runtime_for(max_memory: str | int | None) -> Runtime:
    """The Runtime of a run given ``--max-memory`` (a size such as 4G, or bytes; None: automatic), checked
    before any video is read."""
    from evalkit.memory import parse_size

    return Runtime(max_memory=None if max_memory is None else parse_size(max_memory))


def select_pairs(pred, gt, cfg: ScoreConfig) -> list[PairPaths]:
    pairs = pair_dirs(pred, gt, allow_extra_gt=cfg.allow_missing_pred)
    if cfg.shard is not None:
        index, count = cfg.shard
        pairs = pairs[index::count]
    return pairs


def _progress(total: int, enabled: bool):
    """A rich progress bar (or a no-op) with an ``advance(description)`` callable."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext(lambda desc: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      TextColumn("{task.description}"), transient=True) as prog:
            task = prog.add_task("", total=total)
            yield lambda desc: prog.update(task, advance=1, description=desc)

    return bar()


def run(pred, gt, cfg: ScoreConfig, progress: bool = False, pairs: list[PairPaths] | None = None,
        runtime: Runtime | None = None) -> Scorer:
    """Score all pairs. With jobs > 1 each worker process decodes *and* scores a run of whole videos (on the
    CPU, or each with its own CUDA context on the GPU) and the states merge in pair order: decoded frames never
    cross a process boundary (pickling them to one scoring process cost more than all the metrics did), and the
    CPU-bound parts (optical flow, beat tracking) run in parallel too. ``runtime.max_memory`` is the whole run's
    memory budget (None: half the RAM available now), split evenly between the workers (docs/memory.md)."""
    cfg = check_config(cfg)
    runtime = runtime or Runtime()
    runtime = replace(runtime, max_memory=runtime.memory_budget())  # the automatic budget, read once
    pairs = pairs if pairs is not None else select_pairs(pred, gt, cfg)
    trace.event("run_start", pairs=len(pairs), jobs=cfg.jobs)
    devices = devices_of(cfg.device)
    parallel = cfg.jobs > 1 and len(pairs) > 1
    if parallel:
        ctx = execution.context(cfg.metrics)  # first: the server's imports overlap what follows
        execution.warm_merging_process(cfg)
    scorer = Scorer(cfg, runtime)  # networks load on first use: in the workers, never in this parent
    with _progress(len(pairs), progress) as advance:
        if parallel:
            with execution.workers(ctx, cfg, pairs, runtime.max_memory, Scorer, iter_items) as results:
                for chunk, snap in results:
                    scorer.merge_snapshot(snap)
                    for pair in chunk:
                        advance(pair.key)
        else:
            execution.claim_device(devices[0])  # no effect once this process has a context (then it spin-waits)
            scorer.prepare()  # weights that do not load stop the run here, as in the workers
            for item in iter_items(pairs, cfg):
                scorer.add(item)
                advance(item.key)
    trace.event("run_done")
    return scorer


def run_distributed(pred, gt, cfg: ScoreConfig, progress: bool = False) -> Scorer | None:
    """Under torchrun (``torchrun --nproc_per_node N -m evalkit score …``): this rank scores the pairs
    ``rank::world``, rank 0 merges every rank's snapshot exactly (evalkit.execution.gather_ranks). Returns the
    merged Scorer on rank 0 and None on the other ranks."""
    cfg = check_config(cfg)  # on every rank, before the group forms: a bad option stops each in one line

    def share(device: str, rank: int, world: int) -> Scorer:
        rank_cfg = ScoreConfig(**{**asdict(cfg), "device": device, "shard": None})
        pairs = select_pairs(pred, gt, cfg)[rank::world]
        return run(pred, gt, rank_cfg, progress=progress and rank == 0, pairs=pairs)

    scorer, snaps = execution.gather_ranks(cfg.device, share)
    if snaps is None:
        return None
    merged = Scorer(cfg, metrics=scorer.empty().metrics)
    for snap in snaps:
        merged.merge_snapshot(snap)
    return merged


def finish(scorer: Scorer, out=None) -> pd.DataFrame:
    from evalkit.results.schema import write_results

    aggregate = scorer.aggregate()
    trace.event("computed")
    record = scorer.record(aggregate)
    per_video = scorer.per_video()
    if out is not None:
        write_results(out, record, per_video)
    aggregate.attrs["per_video"] = per_video
    aggregate.attrs["record"] = record
    return aggregate


__all__ = ["ScoreConfig", "Scorer", "score", "run", "finish"]
