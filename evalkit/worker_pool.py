"""The scoring worker pool: processes forked from a forkserver that has imported (and compiled) what the
workers need, started first so that its start-up overlaps the parent's own.

Spawned workers each paid ~10 s of imports and numba compilation before their first video; forked from a
preloaded server they start in milliseconds. The server keeps the environment it started with, so each
worker takes the parent's current environment in its initializer (``environ``)."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os

from evalkit import trace

AUDIO_METRICS = {"beat_align", "av_align"}
_PRELOADED: set[str] = set()  # what this process's server imported (it keeps the first call's list)


def context(metrics) -> mp.context.BaseContext:
    """A forkserver context preloading the scoring modules (and librosa when audio metrics run), started
    now; spawn where there is no forkserver (Windows). The server is per process: the first call's
    preload list stays for later pools, which only costs them start-up time."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    preload = ["evalkit.preload.scoring"] + (["evalkit.preload.audio"] if AUDIO_METRICS & set(metrics) else [])
    ctx.set_forkserver_preload(preload)
    os.environ["EVALKIT_FORKSERVER"] = "1"  # the server's environment only (see evalkit.preload.scoring)
    try:
        forkserver.ensure_running()  # returns at once; the server imports while the parent goes on
    finally:
        del os.environ["EVALKIT_FORKSERVER"]
    if not _PRELOADED:  # later calls (the CLI's, then run's; later pools) find it serving
        _PRELOADED.update(preload)
        trace.event("forkserver_started", preload=preload)
    elif "evalkit.preload.audio" in preload and "evalkit.preload.audio" not in _PRELOADED:
        from evalkit.audio.beats import warm_up_jit

        warm_up_jit()  # the server has no compiled beat tracker: fill numba's disk cache once, not in N workers
    return ctx


def pool(ctx, jobs: int, initializer, initargs) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=initializer, initargs=initargs)
