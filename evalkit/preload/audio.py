"""Forkserver preload for the audio metrics: librosa's numba kernels compiled once, in the server, so
forked workers inherit them compiled."""
from evalkit.audio.beats import warm_up_jit

warm_up_jit()
