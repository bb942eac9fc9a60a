"""The decision-sized split ``synth-bench``: SDGPip test clips made on first use, like the embedded ``synth``.

Sized by the power analysis in docs/compare.md (`evalkit power` on the synth-test runs of m2p and static): with
the paired per-video spread measured there, 0.01 SSIM, 0.01 LPIPS and 0.05 BeatAlign lift need at most
129 videos at 80 % power (LPIPS is the limit), so the split has BENCH_CLIPS of them. The clips have the
synth-test format (4 s, 256², 30 fps, every guidance map), so the spreads carry over.

Disjoint by seed: every SDGPip sample depends only on (seed, index, settings) through its own seed sequence,
and BENCH_SEED is none of the seeds in use elsewhere (USED_SEEDS). Cached in
``$EVALKIT_CACHE/data/synth-bench-<evalkit version>-<generator fingerprint>-<seed>-<clips>``, generated under the
same lock and atomic rename as the embedded split (default.ensure_cached).
"""
from __future__ import annotations

from pathlib import Path

from evalkit.data.synth.default import default_config, ensure_cached, generator_fingerprint
from evalkit.data.synth.pipeline import SynthConfig

BENCH_CLIPS = 136
BENCH_SEED = 24
#: seeds whose clips must stay out of synth-bench: synth/synth-test (0), m2p's validation clips (1),
#: m2p's and posedit's training data (11, models/*/train_gpu.sh)
USED_SEEDS = (0, 1, 11)


def bench_config() -> SynthConfig:
    """The embedded split's clip format with BENCH_CLIPS test clips, no training part, seed BENCH_SEED."""
    cfg = default_config(BENCH_SEED)
    cfg.train, cfg.test = 0, BENCH_CLIPS
    return cfg


def bench_root() -> Path:
    from evalkit.paths import cache_dir
    from evalkit.version import __version__

    return cache_dir("data") / f"synth-bench-{__version__}-{generator_fingerprint()}-{BENCH_SEED}-{BENCH_CLIPS}"


def ensure_bench(jobs: int | None = None, progress=None) -> Path:
    """synth-bench's root, generated first if it is not in the cache yet (~2 s a clip and worker)."""
    return ensure_cached(bench_root(), bench_config(), jobs, progress)


def get_split(part: str = "test"):
    """``synth-bench``: the bench clips, one part (test)."""
    from evalkit.data.aist import AistSplit
    from evalkit.errors import EvalkitError

    if part != "test":
        raise EvalkitError(f"the synth-bench split has one part, test, not {part!r}")
    return AistSplit(ensure_bench(), "test", crop=None, name="synth-bench")
