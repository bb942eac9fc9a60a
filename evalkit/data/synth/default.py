"""The embedded default split ``synth``: a small SDGPip dataset made on first use, so every command runs
with no download.

It lives in ``$EVALKIT_CACHE/data/synth-<evalkit version>-<generator fingerprint>-<seed>``: the fingerprint is
a hash of the generator's sources, so a cached split made by older generator code is never read as today's (a
version-only key once kept a stale split on a machine whose code had moved on). The first caller builds it in a
temporary folder next to it, under a file lock, and renames it into place, so concurrent callers wait and
then share one copy, and a crash never leaves a half-written split. For a given evalkit version and seed
the files are byte-identical (see store.py).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from pathlib import Path

from evalkit.data.synth.pipeline import SynthConfig, generate
from evalkit.paths import cache_dir

DEFAULT_SEED = 0


def default_config(seed: int = DEFAULT_SEED) -> SynthConfig:
    # 8 train + 4 test clips of 4 s at 256², 30 fps: ~1.5k frames, generated in seconds
    return SynthConfig(train=8, test=4, seconds=4.0, size=256, fps=30.0, seed=seed)


NOT_CONTENT = ("figures.py", "preview.py")  # README figures: they do not change what is generated


def generator_fingerprint(folder: Path = Path(__file__).resolve().parent) -> str:
    """sha256 (first 10 hex digits) of the generator's Python sources, by file name and content."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        if path.name not in NOT_CONTENT:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:10]


def default_root(seed: int = DEFAULT_SEED) -> Path:
    from evalkit.version import __version__

    return cache_dir("data") / f"synth-{__version__}-{generator_fingerprint()}-{seed}"


def ensure_default(seed: int = DEFAULT_SEED, jobs: int | None = None, progress=None) -> Path:
    """The default split's root, generated first if it is not in the cache yet."""
    return ensure_cached(default_root(seed), default_config(seed), jobs, progress)


def ensure_cached(root: Path, cfg: SynthConfig, jobs: int | None = None, progress=None) -> Path:
    """``root`` holding the split ``cfg`` describes, generated first (locked, atomically) if it is missing."""
    if (root / "sdgpip.json").is_file():
        return root
    lock_path = root.with_name(root.name + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be generating it: wait for it
        try:
            if (root / "sdgpip.json").is_file():
                return root
            tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            if root.exists():  # a folder without a manifest is left from a foreign writer: replace it
                shutil.rmtree(root)
            from evalkit.data.synth.pipeline import default_jobs

            # a worker process costs a few seconds of imports: worth it only from ~4 clips per worker
            jobs = jobs or min(default_jobs(), max(1, (cfg.train + cfg.test) // 4))
            try:
                generate(tmp, cfg, jobs=jobs, progress=progress)
                os.rename(tmp, root)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return root


def get_split(name: str = "synth", part: str = "test", seed: int = DEFAULT_SEED):
    """``get_split("synth", "test")``: the default split's part, made on first use."""
    from evalkit.data.aist import AistSplit
    from evalkit.errors import EvalkitError

    if name != "synth":
        raise EvalkitError(f"the embedded default split is 'synth', not {name!r}")
    if part not in ("train", "test"):
        raise EvalkitError(f"the synth split has parts train and test, not {part!r}")
    return AistSplit(ensure_default(seed), part, crop=None, name=f"synth-{part}")
