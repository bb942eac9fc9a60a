"""How this process runs work, as opposed to what it computes: handed down explicitly (scoring worker ->
Scorer -> metric -> feature function), never through environment variables.

Nothing here changes a number (tests assert that flow values do not depend on workers, executor or batch), so
it is kept out of metric settings, merge checks and results."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    #: threads or processes a metric may use inside this process (None: every core this process may use)
    inner_workers: int | None = None
    #: how those run: "processes" | "threads" (None: the metric's default). Scoring workers use threads: no
    #: process pools inside pool workers
    executor: str | None = None
    #: pixels per batch of the torch optical flow (None: its default); workers sharing one GPU split its memory
    flow_batch_pixels: float | None = None
    #: bytes this process keeps its decoded chunks and metric batches within (None: half the RAM available when
    #: it starts); see evalkit.memory and docs/memory.md
    max_memory: int | None = None

    def memory_budget(self) -> int:
        """This process's memory budget in bytes (evalkit.memory)."""
        from evalkit.memory import budget_bytes

        return budget_bytes(self.max_memory)
