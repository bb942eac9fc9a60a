"""torch.distributed scoring: ``torchrun --nproc_per_node N -m evalkit score …``.

Each rank decodes and scores the pairs ``rank::world``; rank 0 gathers every rank's state snapshot
(float64 sums, per-video rows) and merges them exactly. The gather uses gloo (pickled numpy state); on CUDA
each local rank scores on its own GPU.
"""
from __future__ import annotations

import os
from dataclasses import asdict


def is_distributed_launch() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def distributed_run(pred, gt, cfg, progress: bool = False):
    """Score this rank's share; returns the merged Scorer on rank 0 and None on the other ranks."""
    import torch.distributed as dist

    from evalkit import trace
    from evalkit.scoring import ScoreConfig, Scorer, check_config, run, select_pairs

    cfg = check_config(cfg)  # on every rank, before the group forms: a bad option stops each in one line

    # gloo, also for CUDA runs: what crosses ranks is pickled numpy state, and a rank whose workers do the
    # scoring then never needs a CUDA context of its own
    dist.init_process_group("gloo")
    trace.event("dist_ready")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        device = cfg.device
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"  # claimed by whoever scores on it
        rank_cfg = ScoreConfig(**{**asdict(cfg), "device": device, "shard": None})
        pairs = select_pairs(pred, gt, cfg)[rank::world]
        scorer = run(pred, gt, rank_cfg, progress=progress and rank == 0, pairs=pairs)
        snaps = [None] * world if rank == 0 else None
        dist.gather_object(scorer.snapshot(), snaps, dst=0)
        # no rank tears the group down while rank 0 may still be receiving (gloo aborts on a closed peer)
        dist.barrier()
        trace.event("gathered")
        if rank != 0:
            return None
        merged = Scorer(cfg, metrics=scorer.empty().metrics)
        for snap in snaps:
            merged.merge_snapshot(snap)
        return merged
    finally:
        dist.destroy_process_group()
