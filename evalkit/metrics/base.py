"""The streaming-metric contract every evalkit metric follows.

A metric is a functional core (pure functions on tensors, in the metric's own file) plus a streaming
state built on :class:`Metric`: ``update`` consumes one scored item (a pred/gt pair with its audio) and
returns that video's row values; ``compute`` reduces the state; ``merge`` adds another instance's
state (a shard, a rank) so that merged == single-process. State is a dict of named numpy float64
arrays with a reduction each ('sum' adds, 'cat' concatenates per-video rows), so shards can be saved,
merged and gathered generically.
"""
from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np


class Metric:
    #: metric name used on the command line and in results
    name: ClassVar[str] = ""
    #: preset name -> settings dict; the first key is the default
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: True: larger is better (↑)
    higher_is_better: ClassVar[bool] = True
    #: what update() needs from a ScoreItem: any of "pred", "gt", "audio"
    needs: ClassVar[tuple[str, ...]] = ("pred", "gt")
    #: what the value reproduces (shown in the README table and results)
    reference: ClassVar[str] = ""

    def __init__(self, preset: str | None = None, device: str = "cpu", **overrides):
        if not self.presets:
            raise TypeError(f"{type(self).__name__} defines no presets")
        preset = preset or next(iter(self.presets))
        if preset not in self.presets:
            from evalkit.errors import EvalkitError

            raise EvalkitError(
                f"metric '{self.name}' has no preset '{preset}'", hint=f"choose one of: {', '.join(self.presets)}"
            )
        self.preset = preset
        self.settings = {**self.presets[preset], **overrides}
        self.device = device
        self._state: dict[str, np.ndarray] = {}
        self._reduce: dict[str, str] = {}
        self.reset()

    # --- state -------------------------------------------------------------------------------
    def add_state(self, name: str, default, reduce: str = "sum") -> None:
        if reduce not in ("sum", "cat"):
            raise ValueError(reduce)
        self._reduce[name] = reduce
        self._state[name] = np.array(default, dtype=np.float64)

    def reset(self) -> None:
        """Subclasses declare their state here with add_state."""

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._state.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for key in self._state:
            self._state[key] = np.asarray(state[key], dtype=np.float64).copy()

    def merge(self, other: "Metric") -> "Metric":
        """Add another instance's state to this one (shards, ranks)."""
        if type(other) is not type(self) or other.settings != self.settings:
            raise ValueError(f"cannot merge {other.name}/{other.preset} into {self.name}/{self.preset}")
        for key, how in self._reduce.items():
            mine, theirs = self._state[key], other._state[key]
            self._state[key] = mine + theirs if how == "sum" else np.concatenate([mine, theirs])
        return self

    def prepare(self) -> None:
        """Load networks now (scoring workers, before their first video); by default there are none. Clones
        made afterwards share them."""

    def clone(self) -> "Metric":
        return copy.deepcopy(self)

    # --- to implement -------------------------------------------------------------------------
    def update(self, item) -> dict[str, float]:
        """Consume one item; return the per-video row values ({column: value})."""
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        """Aggregate values ({column: value}); the first column is the headline number."""
        raise NotImplementedError

    # --- identity -----------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """Everything that defines this metric's number: preset, settings, reference, weights, versions."""
        return {
            "metric": self.name,
            "preset": self.preset,
            "settings": {k: v for k, v in self.settings.items()},
            "reference": self.reference,
            "higher_is_better": self.higher_is_better,
        }
