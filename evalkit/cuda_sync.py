"""Blocking CUDA synchronisation for scoring processes.

By default a CUDA context spin-waits in every synchronisation (``.cpu()``, ``.item()``). With many scoring
workers sharing one GPU each one burns a core while it waits its turn: on an H200 host, 20 workers spent
~60 CPU-s per 20-s video against ~48 with 16. ``CU_CTX_SCHED_BLOCKING_SYNC`` makes the waiting thread sleep.
It must be set on the device's primary context before it is created (before the process's first CUDA call);
torch uses that primary context.
"""
from __future__ import annotations

import ctypes

CU_CTX_SCHED_BLOCKING_SYNC = 0x04


def blocking_sync(device: str = "cuda") -> bool:
    """Set blocking sync on every visible GPU's primary context when ``device`` is a CUDA device; False (and no
    change) for the CPU, where no CUDA driver is present or a context already exists. Numbers are unaffected:
    only how the host waits changes."""
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
