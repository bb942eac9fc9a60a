"""The scoring engine behind ``evalkit score`` and ``evalkit.score``: pair → decode (workers) → metrics.

Every video is decoded once and fed to every metric's streaming state; per-video rows and the
aggregate come out as pandas DataFrames, with a results record (settings, metric identities,
package versions, counts) that :func:`evalkit.results.schema.write_results` stores.
"""
from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from evalkit import trace
from evalkit.errors import EvalkitError
from evalkit.io.audio import audio_for_video
from evalkit.io.item import ScoreItem
from evalkit.io.pairing import PairPaths, pair_dirs, reconcile
from evalkit.io.video import decode_video
from evalkit.metrics import DEFAULT_METRICS, REGISTRY, build, metric_class
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


def check_devices(devices: list[str]) -> None:
    """cpu, cuda or cuda:N, and a GPU that torch can see."""
    import re

    for device in devices:
        match = re.fullmatch(r"cuda(?::(\d+))?", device)
        if device == "cpu":
            continue
        if match is None:
            raise EvalkitError(f"unknown --device '{device}'", hint="use cpu, cuda, cuda:N or cuda:0,1")
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise EvalkitError(f"--device {device}: torch sees no CUDA GPU here", hint="use --device cpu")
        if match.group(1) is not None and int(match.group(1)) >= count:
            raise EvalkitError(f"--device {device}: torch sees {count} GPU(s)",
                               hint=f"use cuda:0 … cuda:{count - 1}")


def resolve_preset(name: str, preset: str) -> str:
    """The global preset if the metric has it, else the metric's own default (recorded)."""
    presets = metric_class(name).presets
    return preset if preset in presets else next(iter(presets))


def devices_of(device: str) -> list[str]:
    """``cuda:0,1`` (or ``cuda:0,cuda:1``) -> ['cuda:0', 'cuda:1']; one device -> a list of one."""
    device = str(device).strip()
    if "," not in device:
        return [device]
    if not device.startswith("cuda:"):
        raise EvalkitError(f"bad --device '{device}'", hint="several devices are GPUs: write cuda:0,1")
    out = []
    for part in device[len("cuda:"):].split(","):
        index = part.strip().removeprefix("cuda:")
        if not index.isdigit():
            raise EvalkitError(f"bad --device '{device}'", hint="write GPU indices, e.g. cuda:0,1")
        out.append(f"cuda:{int(index)}")
    if len(set(out)) != len(out):
        raise EvalkitError(f"bad --device '{device}'", hint="name each GPU once")
    return out


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
            metric.start_video(item)
            live[name] = metric
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
            values[name] = metric.finish_video()
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


_WORKER: dict = {}  # this worker process's config and Scorer with its networks loaded (see _init_worker)


def _init_worker(cfg: ScoreConfig, threads: int, runtime: Runtime, environ: dict, devices: list[str],
                 counter, registry: dict) -> None:
    """Once per worker: its share of the host, its GPU (workers take the listed devices in turn), and a
    Scorer whose networks stay loaded for every chunk — loaded in a thread while the first video decodes.
    ``runtime`` is handed to the Scorer's metrics (the flow's threads and GPU batch); ``registry`` holds the
    parent's registry entries of the scored metrics (one registered at run time is found here too)."""
    os.environ.clear()
    os.environ.update(environ)  # the parent's environment now, not the forkserver's at its start
    REGISTRY.update(registry)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    cfg = replace(cfg, device=devices[index % len(devices)])
    trace.event("worker_start", device=cfg.device)
    import cv2
    import torch

    # CPU: the parent's intra-op thread count, so convolutions reduce in the same order and per-video values
    # are bit-identical to a single-process run; GPU: a share of the cores
    torch.set_num_threads(threads)
    # Flow (the largest CPU cost) runs over the runtime's threads — this worker's share of the cores, no nested
    # process pools — each Farneback call single-threaded: OpenCV's own pool defaults to every core in every
    # worker and oversubscribed the host. Flow values do not depend on either (tested).
    cv2.setNumThreads(1)
    _WORKER["cfg"] = cfg
    # CUDA context and networks (~2.5 s on an H200 host) while the first pair decodes (about as long)
    _WORKER["loader"] = threading.Thread(target=_load_scorer, args=(cfg, runtime), daemon=True)
    _WORKER["loader"].start()


def _load_scorer(cfg: ScoreConfig, runtime: Runtime) -> None:
    try:
        claim_device(cfg.device)
        _WORKER["template"] = Scorer(cfg, runtime).prepare()
    except Exception as err:  # e.g. weights that do not load: raised by the first chunk (one line for ours)
        _WORKER["error"] = err
    trace.event("worker_ready", device=cfg.device)


def _template() -> Scorer:
    """The worker's loaded Scorer, once its loader thread is done."""
    _WORKER["loader"].join()
    if "error" in _WORKER:
        raise _WORKER["error"]
    _make_current(_WORKER["cfg"].device)  # the current CUDA device is per thread: set it in this one too
    return _WORKER["template"]


def _score_chunk(chunk: list[PairPaths]) -> dict:
    """Worker: decode and score a run of consecutive pairs with a fresh state; returns its snapshot.

    Chunks (not single pairs) keep the traffic of large states (FVD's bootstrap sums) per worker small."""
    scorer = None
    for item in iter_items(chunk, cfg=_WORKER["cfg"]):
        if scorer is None:
            scorer = _template().empty()  # zeroed states sharing the loaded networks
        scorer.add(item)
    snapshot = scorer.snapshot()
    trace.event("chunk_done", videos=[p.key for p in chunk])
    return snapshot


def claim_device(device: str) -> None:
    """Before this process's first CUDA call: blocking sync, and ``cuda:N`` made the current device (code
    that says only "cuda" then lands on this process's GPU, not GPU 0)."""
    from evalkit.cuda_sync import blocking_sync

    blocking_sync(device)
    _make_current(device)


def _make_current(device: str) -> None:
    if device.startswith("cuda:"):
        import torch

        torch.cuda.set_device(device)


def _chunks(pairs: list[PairPaths], jobs: int) -> list[list[PairPaths]]:
    """Runs of consecutive pairs for the workers, shrinking to single pairs at the end (guided scheduling): few
    snapshots (FVD's are ~130 MB) cross processes, and the last videos still spread over every worker — equal
    runs of two left one GPU with the last 15 s of work (60 pairs, 16 workers)."""
    out, start = [], 0
    while start < len(pairs):
        size = max(1, math.ceil((len(pairs) - start) / (2 * jobs)))
        out.append(pairs[start:start + size])
        start += size
    return out


def _warm_cuda(device: str) -> None:
    """Create this process's CUDA context and load cuSOLVER (FVD's bootstrap uses batched eigh) in the
    background, so that they are ready when the states are merged (~2 s otherwise, after the last video)."""
    try:
        import torch

        claim_device(device)
        torch.linalg.eigvalsh(torch.eye(2, dtype=torch.float64, device=device))
    except Exception:  # only a head start: the bootstrap itself reports a GPU that does not work
        pass


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
        from evalkit import worker_pool

        ctx = worker_pool.context(cfg.metrics)  # first: the server's imports overlap what follows
        on_gpu = any(metric_class(name).computes_on_gpu for name in cfg.metrics)
        if devices[0].startswith("cuda") and on_gpu and int(os.environ.get("RANK", "0")) == 0:
            # this process computes on the GPU at the end (FVD's bootstrap): its CUDA context meanwhile
            threading.Thread(target=_warm_cuda, args=(devices[0],), daemon=True).start()
    scorer = Scorer(cfg, runtime)  # networks load on first use: in the workers, never in this parent
    with _progress(len(pairs), progress) as advance:
        if parallel:
            import torch

            worker_cfg = replace(cfg, jobs=1)
            chunks = _chunks(pairs, cfg.jobs)
            # this process's share of the host: torchrun starts one scoring process per GPU on it
            cores = (os.cpu_count() or 1) / int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            # CPU: the parent's thread count (bit-identical per-video values); GPU: a share of the cores
            threads = torch.get_num_threads() if cfg.device == "cpu" else max(1, int(cores // cfg.jobs))
            # flow over the worker's share of the cores, in threads; torch-flow batch per worker: the workers on
            # one GPU share its memory (~90 MB of temporaries per 512² pair)
            runtime = Runtime(inner_workers=max(1, round(cores / cfg.jobs)), executor="threads",
                              flow_batch_pixels=min(2e7, 8e7 * len(devices) / cfg.jobs),
                              max_memory=runtime.max_memory // cfg.jobs)
            registry = {name: REGISTRY[name] for name in cfg.metrics}
            init = (worker_cfg, threads, runtime, dict(os.environ), devices, ctx.Value("i", 0), registry)
            pool = worker_pool.pool(ctx, cfg.jobs, _init_worker, init)
            try:
                for chunk, snap in zip(chunks, pool.map(_score_chunk, chunks)):  # in pair order: deterministic sums
                    scorer.merge_snapshot(snap)
                    for pair in chunk:
                        advance(pair.key)
            finally:
                # every result is in: the workers tear down (CUDA contexts, ~1 s) while this process goes on
                pool.shutdown(wait=False, cancel_futures=True)
        else:
            claim_device(devices[0])  # no effect once this process has a context (then it keeps spin-waiting)
            scorer.prepare()  # weights that do not load stop the run here, as in the workers
            for item in iter_items(pairs, cfg):
                scorer.add(item)
                advance(item.key)
    trace.event("run_done")
    return scorer


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
