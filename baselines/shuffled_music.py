"""shuffled-music: a generator driven by another sample's music — the control for music-synchronisation metrics.

The video is still scored against its own sample's music (the runner muxes that in), so any synchronisation a
generator shows here is chance. Samples are sorted by id and sample i takes the music of sample i+1 (the last
takes the first's): a fixed derangement, so nobody keeps their own music. The inner generator defaults to
beat-procedural (its motion depends on nothing but the music's beats); ``--opt inner=NAME`` picks another, and
``evalkit run-model NAME --shuffle-music`` wraps any generator the same way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.generators import GeneratorContext, make_generator, take_options


def derangement(ids: list[str]) -> dict[str, str]:
    """id -> the id whose music it gets (sorted order, shifted by one)."""
    order = sorted(ids)
    if len(order) < 2:
        raise EvalkitError("shuffled music needs at least two samples", hint="run it on a split with more samples")
    return {a: b for a, b in zip(order, order[1:] + order[:1])}


class ShuffledMusic:
    name = "shuffled-music"

    def __init__(self, context: GeneratorContext | None = None, inner=None):
        context = context or GeneratorContext()
        if inner is None:
            opts = take_options(context, self.name, {"inner": "beat-procedural", "pose_backend": "blazepose"})
            if opts["inner"] == self.name:
                raise EvalkitError("shuffled-music cannot wrap itself", hint="pass --opt inner=OTHER_GENERATOR")
            inner_opts = {} if opts["inner"] in ("static", "m2p") else {"pose_backend": opts["pose_backend"]}
            inner = make_generator(opts["inner"], GeneratorContext(context.dataset, context.root, context.device,
                                                                   inner_opts))
        self.inner = inner
        self.version = f"1+{inner.name}@{inner.version}"
        self.music_of: dict[str, Path] = {}
        self.donor: dict[str, str] = {}

    def prepare(self, samples: list) -> None:
        by_id = {s.id: s for s in samples}
        self.donor = derangement(list(by_id))
        self.music_of = {a: Path(by_id[b].music) for a, b in self.donor.items()}
        if hasattr(self.inner, "prepare"):
            self.inner.prepare(samples)

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray:
        if music is None:
            if sample.id not in self.music_of:
                raise EvalkitError(f"shuffled music was not prepared for sample {sample.id}",
                                   hint="call prepare(samples) with the whole split first")
            music = self.music_of[sample.id]
        return self.inner.generate(sample, music=music, seed=seed)

    def info(self) -> dict:
        inner = self.inner.info() if hasattr(self.inner, "info") else {}
        return {"inner": self.inner.name, "inner_info": inner, "music_from": dict(sorted(self.donor.items()))}
