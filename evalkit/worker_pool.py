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


def pool(ctx, jobs: int, initializer, initargs) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=initializer, initargs=initargs)
