"""Shard files: a Scorer's snapshot written to and read from disk, and ``evalkit merge`` over them.

A shard's state is every metric's state dict (float64 sums / concatenated rows), its per-video rows,
errors and counts (``Scorer.snapshot``; the Scorer also owns the merge). Sum-type states add in float64,
per-video rows are concatenated and sorted by video, so a merged result equals the single-process one (to
float64 summation order for sums; rows exactly). This module only does the I/O.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.results.outdir import atomic_file, write_atomic
from evalkit.scoring import ScoreConfig, Scorer

STATE_FILE = "shard_state.npz"
META_FILE = "shard_meta.json"


def save_shard(scorer, out: str | Path) -> Path:
    """Write a shard's state, then its meta file. Each goes through a temporary file and a rename, and the meta
    file (which ``load_shard`` requires) is removed first and written last: a shard killed while writing
    leaves no state that ``evalkit merge`` would read — neither half a file nor a new state beside old meta."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    snap = scorer.snapshot()
    arrays = {f"{name}/{key}": value for name, state in snap.pop("states").items() for key, value in state.items()}
    (out / META_FILE).unlink(missing_ok=True)
    with atomic_file(out / STATE_FILE) as handle:
        np.savez(handle, **arrays)
    write_atomic(out / META_FILE, json.dumps(snap, default=str, indent=1))
    return out


def load_shard(path: str | Path) -> dict:
    path = Path(path)
    if not (path / STATE_FILE).is_file() or not (path / META_FILE).is_file():
        raise EvalkitError("not a shard directory (no shard_state.npz / shard_meta.json)", path=path,
                           hint="pass the --out directories of `evalkit score --shard i/n` runs")
    snap = json.loads((path / META_FILE).read_text())
    states: dict[str, dict] = {}
    with np.load(path / STATE_FILE) as data:
        for key in data.files:
            name, field = key.split("/", 1)
            states.setdefault(name, {})[field] = data[key]
    snap["states"] = states
    return snap


def merge_shards(paths: list[str | Path]):
    """Merge shard directories into one Scorer (built from the first shard's configuration)."""
    if not paths:
        raise EvalkitError("no shard directories given")
    snaps = [load_shard(p) for p in paths]
    config = dict(snaps[0]["config"])
    config["metrics"] = tuple(config["metrics"])
    config["shard"] = None
    for path, snap in zip(paths[1:], snaps[1:]):
        other = {**snap["config"], "metrics": tuple(snap["config"]["metrics"]), "shard": None}
        if {k: v for k, v in other.items() if k != "jobs"} != {k: v for k, v in config.items() if k != "jobs"}:
            raise EvalkitError("shard was scored with other settings", path=path, hint="re-score it with the same options")
    scorer = Scorer(ScoreConfig(**config))
    for snap in snaps:
        scorer.merge_snapshot(snap)
    keys = [r["video"] for r in scorer.rows]
    if len(keys) != len(set(keys)):
        raise EvalkitError("the same video appears in two shards", hint="use --shard i/n with one n for all shards")
    return scorer
