"""The bridge from an evalkit metric to a ``torchmetrics.Metric``: the same functions, torch states, DDP sync.

An adapter holds an evalkit metric built exactly as ``evalkit.score`` builds it (registry, preset, checked
options). Each video an ``update`` receives is scored by that metric from a zeroed state, and its state delta
is added to the adapter's torch states: evalkit's 'sum' states become float64 tensors with
``dist_reduce_fx="sum"`` (frame sums, FVD's feature sums and outer-product sums), its 'cat' states lists with
``dist_reduce_fx="cat"`` (per-video rows). ``compute`` loads the (synced) states back into the evalkit metric
and returns its ``compute()``, so the numbers are evalkit's to float64 summation order.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from evalkit.io.item import ScoreItem
from evalkit.metrics import build, metric_class

#: keywords that configure torchmetrics itself (syncing, caching); every other keyword is an evalkit option
TORCHMETRICS_KWARGS = frozenset({"compute_on_cpu", "dist_sync_on_step", "process_group", "dist_sync_fn",
                                 "distributed_available_fn", "sync_on_compute", "compute_with_cache"})
#: the toolkit-wide default preset, as evalkit.score uses it (a metric without it takes its own default)
DEFAULT_PRESET = "clean"


def _attr(key: str) -> str:
    """The torch state holding evalkit state ``key``: prefixed, so that no evalkit state name (``values``,
    ``frames``) can shadow an attribute of torchmetrics' Metric or torch's Module."""
    return f"state_{key}"


class EvalkitMetric(Metric):
    """Base of the adapters; a subclass names its evalkit metric and turns ``update``'s tensors into items."""

    #: evalkit registry name (evalkit.metrics.REGISTRY)
    metric: ClassVar[str] = ""
    #: option defaults of the adapter that differ from evalkit's (documented per adapter)
    adapter_defaults: ClassVar[dict[str, Any]] = {}
    is_differentiable = False
    full_state_update = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.metric:
            cls.higher_is_better = metric_class(cls.metric).higher_is_better

    def __init__(self, preset: str | None = None, **options):
        """``preset``: as ``evalkit score --preset`` (default ``clean``, or the metric's own default where it has
        no ``clean``); ``options``: the metric's settings (``--opt``) and torchmetrics' own keywords."""
        super().__init__(**{k: options.pop(k) for k in list(options) if k in TORCHMETRICS_KWARGS})
        cls = metric_class(self.metric)
        self.preset = preset or (DEFAULT_PRESET if DEFAULT_PRESET in cls.presets else next(iter(cls.presets)))
        self.options = {**self.adapter_defaults, **options}
        self._core = build(self.metric, self.preset, "cpu", **self.options)  # unknown options: EvalkitError here
        self._core_device = "cpu"
        self._last_core = self._core
        zero = self._core.state_dict()
        for key, how in self._core.reductions().items():
            default = [] if how == "cat" else torch.from_numpy(zero[key])
            self.add_state(_attr(key), default=default, dist_reduce_fx=how)

    # --- the evalkit metric on this module's device ----------------------------------------------------
    def core(self):
        """The evalkit metric, rebuilt when the module moved to another device (its networks go there too)."""
        device = str(self.device)
        if device != self._core_device:
            self._core = build(self.metric, self.preset, device, **self.options)
            self._core_device = device
        return self._core

    def _score(self, item: ScoreItem) -> dict[str, float]:
        """Score one video with the evalkit metric; add its state delta to the torch states; its row."""
        core = self.core()
        core.reset()
        core.check_input(item)
        row = core.update(item)
        delta = core.state_dict()
        for key, how in core.reductions().items():
            value = torch.from_numpy(delta[key]).to(self.device)
            if how == "cat":
                getattr(self, _attr(key)).append(value)
            else:
                setattr(self, _attr(key), getattr(self, _attr(key)) + value)
        return row

    def _loaded(self):
        """The evalkit metric holding this module's (synced) states; merged from zero so that a metric which
        bounds a 'cat' state on merge (FVD's capped protocol) applies its rule."""
        core = self.core()
        core.reset()
        empty = core.state_dict()
        state = {}
        for key, how in core.reductions().items():
            value = getattr(self, _attr(key))
            if how == "cat":  # a list before syncing, one tensor after
                value = dim_zero_cat(value) if isinstance(value, torch.Tensor) or value else torch.from_numpy(empty[key])
            state[key] = value.detach().to("cpu", torch.float64).numpy()
        core.reset()
        loaded = core.clone()
        loaded.load_state_dict(state)
        return core.merge(loaded)

    def compute(self) -> dict[str, torch.Tensor]:
        """evalkit's aggregate values ({column: float64 scalar tensor}); the first is the headline number."""
        core = self._loaded()
        values = core.compute()
        self._last_core = core
        return {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}

    def counts(self) -> dict[str, int]:
        """What the last ``compute`` counted (frames, capped frames, clips, undefined videos …)."""
        return dict(self._last_core.counts()) if hasattr(self._last_core, "counts") else {}

    def identity(self) -> dict[str, Any]:
        """What defines the number (preset, settings, reference, weights' sha256), as in results.json."""
        return self._last_core.identity()
