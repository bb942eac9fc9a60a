"""The training-loop pieces the reference models share (m2p's ``train.py``, posedit's ``train.py``).

Both trainers run one stage at a time with accelerate, keep ``<out>/<stage dir>/`` with ``last.safetensors``,
``train_state.pt`` (optimizer, random generator, step, elapsed time, plus what the model adds) and ``log.csv``,
and resume so that a resumed run draws exactly the batches an uninterrupted one would have. What differs —
the loss, the learning-rate schedule, EMA, the time budget's plan — stays in each trainer; this module holds
the folder checks, the optimizer step, the training state file, the loss log with its progress bar, and the
recipe record every checkpoint carries.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from evalkit.errors import EvalkitError

from .trainlog import flush_log, progress_bar, start_log


def mixed_precision(choice: str | None) -> str:
    """accelerate's mixed-precision mode: the given one, else bf16 on CUDA and none on CPU."""
    return choice or ("bf16" if torch.cuda.is_available() else "no")


def stage_folder(stage_dir: Path, resume: bool) -> Path:
    """Create ``stage_dir`` for a fresh stage or check it for a resumed one; returns its training-state file.
    A fresh run never overwrites a stage that has a state (it would lose the optimizer's)."""
    state_file = Path(stage_dir) / "train_state.pt"
    if state_file.exists() and not resume:
        raise EvalkitError("this stage already has a training state", path=state_file,
                           hint="pass --resume to continue it, or choose another --out")
    if resume and not state_file.exists():
        raise EvalkitError("nothing to resume", path=state_file, hint="run the stage without --resume first")
    Path(stage_dir).mkdir(parents=True, exist_ok=True)
    return state_file


def optimizer_step(acc, loss_mod, batch: dict, optim, params, label: str, step: int, clip: float = 1.0):
    """One forward under autocast, a finite-loss check, backward, gradient clipping and the optimizer's step;
    returns the stage's (loss, part a, part b)."""
    with acc.autocast():
        loss, part_a, part_b = loss_mod(batch)
    if not torch.isfinite(loss):
        raise EvalkitError(f"{label}: loss is {loss.item()} at step {step}",
                           hint="lower --lr, or resume from the last checkpoint")
    optim.zero_grad(set_to_none=True)
    acc.backward(loss)
    acc.clip_grad_norm_(params, clip)
    optim.step()
    return loss, part_a, part_b


def save_train_state(path: Path, optim, gen: torch.Generator, step: int, elapsed: float, **extra) -> None:
    """What a resumed stage needs besides the weights (the optimizer, the batch generator, where it stopped)."""
    torch.save({"optimizer": optim.state_dict(), "generator": gen.get_state(), "step": step, "elapsed": elapsed,
                **extra}, path)


def load_train_state(path: Path, optim, gen: torch.Generator) -> dict:
    """Restore the optimizer and the batch generator from ``path``; returns the whole state (step, elapsed, …)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    optim.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    return state


class StageLog:
    """The stage's loss log (buffered rows of trainlog.LOG_COLUMNS, flushed every ``every`` steps by the main
    process) and its progress bar."""

    def __init__(self, path: Path, resume: bool, main: bool, show: bool, label: str, total: int, done: int,
                 every: int):
        self.path, self.main, self.every, self.total = Path(path), main, every, total
        self.rows: list = []
        self.last: dict = {}
        start_log(self.path, resume)
        self.bar = progress_bar(main and show, label, total, done)

    def add(self, step: int, loss, part_a, part_b, lr: float, elapsed: float) -> dict:
        """Record one finished step; returns the last losses as floats."""
        self.last = {"loss": float(loss.detach()), "part_a": float(part_a), "part_b": float(part_b)}
        self.rows.append([step, self.last["loss"], self.last["part_a"], self.last["part_b"], lr, round(elapsed, 3)])
        if step % self.every == 0 or step == self.total:
            self.flush()
        if self.bar:
            self.bar[0].update(self.bar[1], completed=step, description=f"loss {self.last['loss']:.4f}")
        return self.last

    def retotal(self, total: int) -> None:
        """A time budget shortened the stage to ``total`` steps."""
        self.total = total
        if self.bar:
            self.bar[0].update(self.bar[1], total=total)

    def flush(self) -> None:
        flush_log(self.path, self.rows, self.main)
        self.rows = []

    def close(self) -> None:
        self.flush()
        if self.bar:
            self.bar[0].stop()


# the recipe record ------------------------------------------------------------------------------------------
def file_id(path) -> str:
    """``<file name> sha256:<first 8 hex>`` of a checkpoint a stage started from (what its recipe names)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{Path(path).name} sha256:{digest.hexdigest()[:8]}"


def with_recipe(meta: dict, entry: dict) -> dict:
    """``meta`` with ``entry`` (stage, route, init, steps, …) appended to its ``recipe`` list: the stages that made
    the checkpoint, in order, including a stage run twice (the per-stage summaries keep only the last run). A
    checkpoint from before the list (a free-text ``recipe`` and ``init``, as the committed m2p tiny has) keeps that
    text as its first entry, marked as written by hand."""
    prior = meta.get("recipe", [])
    if not isinstance(prior, list):
        prior = [{"written_by_hand": str(prior), "init": meta.get("init")}]
    return {**meta, "recipe": [*prior, entry]}


def init_source(init, fallback: Path | None) -> str:
    """What a stage started from, for its recipe: the ``init`` checkpoint (named with its hash), the run's own
    ``latest.safetensors`` (the previous stage), or 'fresh'."""
    if init is not None and Path(init).is_file():
        return file_id(init)
    if fallback is not None and Path(fallback).is_file():
        return f"previous stage ({Path(fallback).name})"
    return "fresh"
