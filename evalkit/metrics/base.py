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

from evalkit.options import Spec, check_options, spec_from_defaults
from evalkit.runtime import Runtime


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
    # --- what the orchestration reads (docs/architecture.md): no metric names outside the metric's file -------
    #: scored by ``evalkit run-model`` and shown on the leaderboards (registry order)
    on_boards: ClassVar[bool] = False
    #: ``leaderboard check``: (absolute, relative) tolerance; a cell drifts when |new − old| > abs + rel·|old|. It
    #: absorbs float noise across CPUs/BLAS builds (the videos themselves are bit-exact), not real changes
    drift_tolerance: ClassVar[tuple[float, float]] = (1e-3, 1e-3)
    #: compute() works on the GPU of the process that merges the workers' states (FVD's bootstrap): that process
    #: warms its CUDA context while the workers score
    computes_on_gpu: ClassVar[bool] = False
    #: takes a reference statistics file (``evalkit stats make``) as its ``gt_stats`` setting: ``--gt-stats`` goes here
    takes_gt_stats: ClassVar[bool] = False
    #: settings whose presets' defaults cannot tell their type (None) or that are bounded: key -> Spec or type
    option_types: ClassVar[dict[str, Any]] = {}
    #: constructor keywords that are not preset settings (how or where it runs, API-only objects): key -> Spec
    runtime_options: ClassVar[dict[str, Spec]] = {}
    #: open-ended key families the constructor consumes and checks itself (``pose_*``): prefix -> what they are
    option_prefixes: ClassVar[dict[str, str]] = {}
    #: attributes that clones share instead of copying (a loaded network: workers' states share one)
    shared: ClassVar[tuple[str, ...]] = ()
    #: reads a pair's frames chunk by chunk (``start_video`` / ``update_chunk`` / ``finish_video``): the engine
    #: decodes each chunk once for every such metric, so memory does not grow with the video's length
    #: (docs/memory.md); a metric that does not stream gets the whole item through ``update``
    streams: ClassVar[bool] = False

    def __init__(self, preset: str | None = None, device: str = "cpu", runtime: Runtime | None = None, **overrides):
        if not self.presets:
            raise TypeError(f"{type(self).__name__} defines no presets")
        preset = preset or next(iter(self.presets))
        if preset not in self.presets:
            from evalkit.errors import EvalkitError

            raise EvalkitError(
                f"metric '{self.name}' has no preset '{preset}'", hint=f"choose one of: {', '.join(self.presets)}"
            )
        overrides = self.check_options(overrides)
        leaked = sorted(set(overrides) - set(self.setting_specs()))
        if leaked:  # a runtime option the subclass's __init__ should have taken: never a silent setting
            raise TypeError(f"{type(self).__name__}.__init__ does not consume {', '.join(leaked)}")
        self.preset = preset
        self.settings = {**self.presets[preset], **overrides}
        self.device = device
        self.runtime = runtime or Runtime()
        self._state: dict[str, np.ndarray] = {}
        self._reduce: dict[str, str] = {}
        self.reset()

    # --- options (docs/options.md) -----------------------------------------------------------
    @classmethod
    def setting_specs(cls) -> dict[str, Spec]:
        """Every preset setting's declared type: ``option_types``, else the type of its presets' defaults."""
        keys = dict.fromkeys(k for p in cls.presets.values() for k in p)
        return {k: spec_from_defaults([p[k] for p in cls.presets.values() if k in p], cls.option_types.get(k))
                for k in keys}

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """Constructor options (settings and runtime options) checked and coerced to their declared types;
        one-line EvalkitError naming the valid keys otherwise. CLI strings and API values alike."""
        return check_options(f"metric '{cls.name}'", options, {**cls.setting_specs(), **cls.runtime_options},
                             cls.option_prefixes)

    @classmethod
    def preflight(cls) -> None:
        """Before minutes of work (``leaderboard check``): fail in one line when something this metric will need
        is missing, e.g. a model file. By default nothing is."""

    # --- state -------------------------------------------------------------------------------
    def add_state(self, name: str, default, reduce: str = "sum") -> None:
        if reduce not in ("sum", "cat"):
            raise ValueError(reduce)
        self._reduce[name] = reduce
        self._state[name] = np.array(default, dtype=np.float64)

    def reset(self) -> None:
        """Subclasses declare their state here with add_state."""

    def reductions(self) -> dict[str, str]:
        """State name -> how shards and ranks combine it ('sum' adds, 'cat' concatenates)."""
        return dict(self._reduce)

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

    def check_input(self, item) -> None:
        """Raise EvalkitError for an item this metric can never score (frames below its minimum size): the run
        stops in one line (exit 2) instead of counting a NaN. By default every item is accepted."""

    def clone(self) -> "Metric":
        """A deep copy that shares the ``shared`` attributes (loaded networks) with this instance: they are
        seeded into deepcopy's memo, so the copy refers to the same objects."""
        memo = {id(value): value for value in (getattr(self, key, None) for key in self.shared)}
        return copy.deepcopy(self, memo)

    # --- to implement -------------------------------------------------------------------------
    def update(self, item) -> dict[str, float]:
        """Consume one item; return the per-video row values ({column: value})."""
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        """Aggregate values ({column: value}); the first column is the headline number."""
        raise NotImplementedError

    # --- streaming metrics (``streams = True``) implement these; ``update`` is then start, chunks, finish ------
    def start_video(self, item) -> None:
        """Begin one item; its frames follow through ``update_chunk`` in order."""
        raise NotImplementedError

    def update_chunk(self, pred, gt) -> None:
        """The item's next consecutive frames: uint8 (n, H, W, 3) arrays (gt None where there is none)."""
        raise NotImplementedError

    def finish_video(self) -> dict[str, float]:
        """End the item begun by ``start_video``; return its row values."""
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
