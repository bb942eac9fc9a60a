"""A toy metric for tests/test_metric_registration.py: the whole of adding a metric is this module plus its
registry line. Mean brightness difference between prediction and ground truth, per frame (a FrameMetric: the
streaming state, batching and aggregation come with it)."""
from __future__ import annotations

from evalkit.errors import EvalkitError
from evalkit.metrics.frame import FrameMetric


class Toy(FrameMetric):
    name = "toy"
    presets = {"clean": {"scale": 1.0}, "half": {"scale": 0.5}}
    higher_is_better = False
    reference = "mean brightness difference (a test metric)"
    on_boards = True
    drift_tolerance = (0.25, 0.0)
    #: what preflight checks (a test flips it to see a missing model file reported before any work)
    model_present = True

    @classmethod
    def preflight(cls) -> None:
        if not cls.model_present:
            raise EvalkitError("toy: model file missing", hint="fetch it first")

    def frame_values(self, pred, gt):
        return (pred.double().mean(dim=(1, 2, 3)) - gt.double().mean(dim=(1, 2, 3))) * self.settings["scale"]


class ToyAudio(Toy):
    """The same number, declared to need the music too (what the worker pool's preload reads)."""

    name = "toy_audio"
    needs = ("pred", "gt", "audio")
    on_boards = False
