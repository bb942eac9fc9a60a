"""Execution: where scoring runs — worker processes, devices, distributed ranks — and the ``Runtime`` each is
handed. Nothing here changes a number; it decides which process scores which pairs, on which GPU, with how
many threads.

The scorer is handed in (its class and the item iterator travel to the workers by reference), so this module
imports no scoring code: ``evalkit.scoring`` uses it, never the reverse (docs/architecture.md).

* devices: ``cuda:0,1`` lists, checks, blocking CUDA sync, the current device of a process and a thread;
* workers: processes forked from a forkserver that has imported (and compiled) what they need, started first so
  that its start-up overlaps the parent's own; each takes the parent's environment, its share of the cores, a
  GPU in turn, and a Scorer whose networks stay loaded; runs of pairs go out, state snapshots come back;
* ranks: ``torchrun --nproc_per_node N -m evalkit score …`` — each rank scores ``rank::world``, rank 0
  gathers the snapshots (gloo, pickled numpy state).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import math
import multiprocessing as mp
import os
import re
import threading
from dataclasses import replace

from evalkit import trace
from evalkit.errors import EvalkitError
from evalkit.runtime import Runtime


# ---------------------------------------------------------------------------------------------- devices
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


def check_devices(devices: list[str]) -> None:
    """cpu, cuda or cuda:N, and a GPU that torch can see."""
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


CU_CTX_SCHED_BLOCKING_SYNC = 0x04


def blocking_sync(device: str = "cuda") -> bool:
    """Set blocking sync on every visible GPU's primary context when ``device`` is a CUDA device; False (and no
    change) for the CPU, where no CUDA driver is present or a context already exists. Numbers are unaffected:
    only how the host waits changes.

    By default a CUDA context spin-waits in every synchronisation (``.cpu()``, ``.item()``): with many scoring
    workers sharing one GPU each burned a core waiting its turn (H200 host: 20 workers spent ~60 CPU-s per 20-s
    video against ~48 with 16). It must be set before the process's first CUDA call; torch uses that context."""
    if not str(device).startswith("cuda"):
        return False
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    if cuda.cuInit(0) != 0:
        return False
    count = ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return False
    ok = True
    for ordinal in range(count.value):
        dev = ctypes.c_int(0)
        if cuda.cuDeviceGet(ctypes.byref(dev), ordinal) != 0:
            ok = False
            continue
        # CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE (708) on older drivers when a context exists: leave it as it is
        ok &= cuda.cuDevicePrimaryCtxSetFlags(dev, CU_CTX_SCHED_BLOCKING_SYNC) == 0
    return ok


def claim_device(device: str) -> None:
    """Before this process's first CUDA call: blocking sync, and ``cuda:N`` made the current device (code
    that says only "cuda" then lands on this process's GPU, not GPU 0)."""
    blocking_sync(device)
    make_current(device)


def make_current(device: str) -> None:
    """``cuda:N`` the current device of this thread (it is per thread)."""
    if device.startswith("cuda:"):
        import torch

        torch.cuda.set_device(device)


def warm_cuda(device: str) -> None:
    """Create this process's CUDA context and load cuSOLVER (FVD's bootstrap uses batched eigh) in the
    background, so that they are ready when the states are merged (~2 s otherwise, after the last video)."""
    try:
        import torch

        claim_device(device)
        torch.linalg.eigvalsh(torch.eye(2, dtype=torch.float64, device=device))
    except Exception:  # only a head start: the bootstrap itself reports a GPU that does not work
        pass


def warm_merging_process(cfg) -> None:
    """When a scored metric computes on the GPU at the end (its class's ``computes_on_gpu``) and this process
    merges (not a non-zero torchrun rank): its CUDA context, in a thread, while the workers score."""
    from evalkit.metrics import metric_class

    device = devices_of(cfg.device)[0]
    on_gpu = any(metric_class(name).computes_on_gpu for name in cfg.metrics)
    if device.startswith("cuda") and on_gpu and int(os.environ.get("RANK", "0")) == 0:
        threading.Thread(target=warm_cuda, args=(device,), daemon=True).start()


# ---------------------------------------------------------------------------------------------- worker pool
#: the forkserver's own environment: the metrics it will serve (read by evalkit.preload.scoring in the server,
#: which has no other channel: its preload list names modules only)
SERVER_ENV = "EVALKIT_FORKSERVER"
_SERVED: list[str] = []  # the metrics this process's server was started for (it keeps the first call's)


def context(metrics) -> mp.context.BaseContext:
    """A forkserver context preloading the scoring modules, started now; spawn where there is no forkserver
    (Windows). The server imports every metric class and, when a served metric declares audio among its
    inputs (``needs``), compiles the beat tracker — decided in the server, so that this process need not import
    the metrics (torch) before the server starts. The server is per process: the first call's metrics stay
    for later pools, which only costs them start-up time."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    from multiprocessing import forkserver

    names = [str(m) for m in metrics]
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["evalkit.preload.scoring"])
    os.environ[SERVER_ENV] = ",".join(names)  # the server's environment only (see evalkit.preload.scoring)
    try:
        forkserver.ensure_running()  # returns at once; the server imports while the parent goes on
    finally:
        del os.environ[SERVER_ENV]
    if not _SERVED:  # later calls (the CLI's, then run's; later pools) find it serving
        _SERVED.extend(names)
        trace.event("forkserver_started", metrics=names)
    else:
        from evalkit.metrics import needs_audio

        if needs_audio(names) and not needs_audio(_SERVED):
            from evalkit.audio.beats import warm_up_jit

            warm_up_jit()  # the server has no compiled beat tracker: fill numba's disk cache once, not in N workers
    return ctx


def chunks(pairs: list, jobs: int) -> list[list]:
    """Runs of consecutive pairs for the workers, shrinking to single pairs at the end (guided scheduling): few
    snapshots (FVD's are ~130 MB) cross processes, and the last videos still spread over every worker — equal
    runs of two left one GPU with the last 15 s of work (60 pairs, 16 workers)."""
    out, start = [], 0
    while start < len(pairs):
        size = max(1, math.ceil((len(pairs) - start) / (2 * jobs)))
        out.append(pairs[start:start + size])
        start += size
    return out


def worker_share(device: str, jobs: int, n_devices: int, max_memory: int) -> tuple[int, Runtime]:
    """A worker's torch threads and Runtime: this process's share of the host (torchrun starts one scoring
    process per GPU on it) divided between ``jobs`` workers."""
    import torch

    cores = (os.cpu_count() or 1) / int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    # CPU: the parent's thread count (bit-identical per-video values); GPU: a share of the cores
    threads = torch.get_num_threads() if device == "cpu" else max(1, int(cores // jobs))
    # flow over the worker's share of the cores, in threads; torch-flow batch per worker: the workers on one GPU
    # share its memory (~90 MB of temporaries per 512² pair)
    runtime = Runtime(inner_workers=max(1, round(cores / jobs)), executor="threads",
                      flow_batch_pixels=min(2e7, 8e7 * n_devices / jobs), max_memory=max_memory // jobs)
    return threads, runtime


@contextlib.contextmanager
def workers(ctx, cfg, pairs: list, max_memory: int, scorer_class, items):
    """``cfg.jobs`` worker processes scoring ``pairs``: gives an iterator of (chunk, snapshot) in pair order
    (deterministic sums). ``scorer_class(cfg, runtime)`` builds a worker's Scorer, ``items(chunk, cfg=…)``
    decodes a chunk; both travel by reference. The pool shuts down when the block is left, however."""
    from evalkit.metrics import REGISTRY

    devices = devices_of(cfg.device)
    threads, runtime = worker_share(cfg.device, cfg.jobs, len(devices), max_memory)
    registry = {name: REGISTRY[name] for name in cfg.metrics}
    init = (replace(cfg, jobs=1), threads, runtime, dict(os.environ), devices, ctx.Value("i", 0), registry,
            scorer_class, items)
    work = chunks(pairs, cfg.jobs)
    pool = cf.ProcessPoolExecutor(cfg.jobs, mp_context=ctx, initializer=_init_worker, initargs=init)
    try:
        yield zip(work, pool.map(_score_chunk, work))
    finally:
        # every result is in: the workers tear down (CUDA contexts, ~1 s) while this process goes on
        pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------------------------- in a worker
_WORKER: dict = {}  # this worker process's config and Scorer with its networks loaded (see _init_worker)


def _init_worker(cfg, threads: int, runtime: Runtime, environ: dict, devices: list[str], counter, registry: dict,
                 scorer_class, items) -> None:
    """Once per worker: its share of the host, its GPU (workers take the listed devices in turn), and a
    Scorer whose networks stay loaded for every chunk — loaded in a thread while the first video decodes.
    ``runtime`` is handed to the Scorer's metrics (the flow's threads and GPU batch); ``registry`` holds the
    parent's registry entries of the scored metrics (one registered at run time is found here too)."""
    from evalkit.metrics import REGISTRY

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
    _WORKER.update(cfg=cfg, items=items)
    # CUDA context and networks (~2.5 s on an H200 host) while the first pair decodes (about as long)
    _WORKER["loader"] = threading.Thread(target=_load_scorer, args=(cfg, runtime, scorer_class), daemon=True)
    _WORKER["loader"].start()


def _load_scorer(cfg, runtime: Runtime, scorer_class) -> None:
    try:
        claim_device(cfg.device)
        _WORKER["template"] = scorer_class(cfg, runtime).prepare()
    except Exception as err:  # e.g. weights that do not load: raised by the first chunk (one line for ours)
        _WORKER["error"] = err
    trace.event("worker_ready", device=cfg.device)


def _template():
    """The worker's loaded Scorer, once its loader thread is done."""
    _WORKER["loader"].join()
    if "error" in _WORKER:
        raise _WORKER["error"]
    make_current(_WORKER["cfg"].device)  # the current CUDA device is per thread: set it in this one too
    return _WORKER["template"]


def _score_chunk(chunk: list) -> dict:
    """Worker: decode and score a run of consecutive pairs with a fresh state; returns its snapshot.

    Chunks (not single pairs) keep the traffic of large states (FVD's bootstrap sums) per worker small."""
    scorer = None
    for item in _WORKER["items"](chunk, cfg=_WORKER["cfg"]):
        if scorer is None:
            scorer = _template().empty()  # zeroed states sharing the loaded networks
        scorer.add(item)
    snapshot = scorer.snapshot()
    trace.event("chunk_done", videos=[p.key for p in chunk])
    return snapshot


# ---------------------------------------------------------------------------------------------- ranks
def is_distributed_launch() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def gather_ranks(device: str, score_share):
    """Under torchrun: ``score_share(device, rank, world)`` scores this rank's share (on CUDA each local rank on
    its own GPU) and returns its Scorer; rank 0 receives every rank's snapshot. Returns (scorer, snapshots) on
    rank 0 and (scorer, None) on the others."""
    import torch.distributed as dist

    # gloo, also for CUDA runs: what crosses ranks is pickled numpy state, and a rank whose workers do the
    # scoring then never needs a CUDA context of its own
    dist.init_process_group("gloo")
    trace.event("dist_ready")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"  # claimed by whoever scores on it
        scorer = score_share(device, rank, world)
        snaps = [None] * world if rank == 0 else None
        dist.gather_object(scorer.snapshot(), snaps, dst=0)
        # no rank tears the group down while rank 0 may still be receiving (gloo aborts on a closed peer)
        dist.barrier()
        trace.event("gathered")
        return scorer, snaps
    finally:
        dist.destroy_process_group()
