"""Forkserver preload: the imports every scoring worker needs (the metric modules through the registry)."""
import atexit
import os

import av  # noqa: F401
import cv2  # noqa: F401
import torch  # noqa: F401

import evalkit.features.flow_torch  # noqa: F401
import evalkit.scoring  # noqa: F401
from evalkit.metrics import REGISTRY, metric_class

for _name in REGISTRY:
    metric_class(_name)


def _exit_now() -> None:
    """The server's own exit, once the scoring process has gone: skip the interpreter's teardown of torch & co.
    (~2 s during which the server still holds the scoring process's stdout and stderr, so a caller reading them
    waits). Only in the server (``evalkit.execution`` marks its environment); forked workers leave through
    ``os._exit`` anyway."""
    os._exit(0)


_SERVED = os.environ.get("EVALKIT_FORKSERVER")  # set by evalkit.execution in the server's environment only
if _SERVED is not None:
    atexit.register(_exit_now)
    from evalkit.metrics import needs_audio

    if needs_audio(_SERVED.split(",")):
        # librosa's numba kernels compiled once, in the server, so that forked workers inherit them compiled
        from evalkit.audio.beats import warm_up_jit

        warm_up_jit()
