"""Modules the scoring pool's forkserver imports once, so that workers fork from a process that has paid
for the imports (torch, OpenCV, PyAV, the metrics: ~5 s) and librosa's numba compilation (~6 s) already,
instead of every worker paying for them at start — and instead of N workers compiling into one on-disk
numba cache at once, which once left a cache that crashed every later process."""
