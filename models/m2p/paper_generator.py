"""The ``m2p-paper`` generator: m2p on seed paper 1's route, M2PEnc's guidance features driving the denoiser.

The adapter is ``m2p``'s (evalkit.models.m2p.generator.M2P: the same options, reference keypoints and counts); what differs
is the checkpoint. Its default, ``checkpoints/tiny-paper.safetensors``, must have been trained on the paper route
(config ``route="paper"``, train.py). None is committed yet (it needs GPU time), and a missing or keypoint-route
checkpoint stops the run with one line that says how to train one: this generator never samples random weights,
and never passes the keypoint route's model off under the paper's name.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.generators import GeneratorContext
from evalkit.models.m2p.generator import M2P

PAPER_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "tiny-paper.safetensors"
TRAIN_COMMAND = ("evalkit train m2p --config tiny --route paper --init models/m2p/checkpoints/tiny.safetensors "
                 "--stage 2,3 --out runs/m2p-tiny-paper --export models/m2p/checkpoints/tiny-paper.safetensors")


def paper_checkpoint(path=None) -> Path:
    """The checkpoint ``m2p-paper`` runs (``path``, else the default), checked to exist and be paper-route."""
    from .model import checkpoint_config

    path = Path(path) if path else PAPER_CHECKPOINT
    if not path.is_file():
        what = "no m2p-paper checkpoint is committed" if path == PAPER_CHECKPOINT else "m2p-paper checkpoint not found"
        raise EvalkitError(what, path=path, hint=f"train one (GPU): `{TRAIN_COMMAND}`, or pass --checkpoint")
    route = checkpoint_config(path).route
    if route != "paper":
        raise EvalkitError(f"checkpoint was trained on the '{route}' route, not the paper's", path=path,
                           hint=f"run it as the 'm2p' generator, or train a paper-route one: `{TRAIN_COMMAND}`")
    return path


class M2PPaper(M2P):
    name = "m2p-paper"

    def __init__(self, context: GeneratorContext):
        path = paper_checkpoint(context.options.get("checkpoint"))
        super().__init__(replace(context, options={**context.options, "checkpoint": str(path)}))

    def info(self) -> dict:
        return {**super().info(), "route": "paper"}
