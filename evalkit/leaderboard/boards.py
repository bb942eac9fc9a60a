"""The boards: which splits have a leaderboard, the dataset each runs on, the baselines `check` re-runs, and
each metric's drift tolerance (its class's ``drift_tolerance``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError


@dataclass(frozen=True)
class Board:
    dataset: str
    part: str
    about: str
    default_root: str | None = None  # "shared:<path>": inside $EVALKIT_SHARED


BOARDS = {
    "synth-test": Board("synth", "test", "embedded SDGPip split (4 clips of 4 s, 256², 30 fps), made on first use"),
    "synth-bench": Board("synth", "bench", "decision-sized SDGPip split (136 clips of 4 s, seed 24), made on first use"),
    "wild": Board("wild", "test", "real dance clips with music (../shared/data/wild: 3 of its 5 videos have audio)",
                  "shared:data/wild"),
    "aistpp-test": Board("aistpp", "test", "AIST++ crossmodal test split (user-supplied dataset)"),
}
#: the baselines `check` recomputes by default: between them they exercise the reference IO, the SDGPip renderer,
#: beat tracking and every metric, in a few CPU minutes (gt-pose and retrieval add run time, not coverage)
CHECK_MODELS = ("static", "beat-procedural")
#: `check`'s tolerance of a column whose metric is not registered here (a metric's own: its drift_tolerance)
DEFAULT_TOLERANCE = (1e-3, 1e-3)


def metric_tolerances() -> dict[str, tuple[float, float]]:
    """Per registered metric: the (absolute, relative) tolerance of `check` its class declares
    (``drift_tolerance``); a metric whose module does not import here keeps the default."""
    from evalkit.metrics import REGISTRY, metric_class

    out = {}
    for name in REGISTRY:
        try:
            out[name] = tuple(metric_class(name).drift_tolerance)
        except ImportError:
            continue
    return out


def board_names() -> tuple[str, ...]:
    return tuple(BOARDS)


def check_split(split: str) -> Board:
    if split not in BOARDS:
        raise EvalkitError(f"unknown leaderboard split '{split}'", hint=f"choose one of: {', '.join(BOARDS)}")
    return BOARDS[split]


def board_root(split: str, root=None) -> Path | None:
    """The dataset root a board is run on: ``root``, else the board's default (None: the embedded split)."""
    if root is not None:
        return Path(root)
    board = check_split(split)
    if board.default_root and board.default_root.startswith("shared:"):
        from evalkit.paths import shared_dir

        shared = shared_dir()
        if shared is None:
            raise EvalkitError(f"the {split} board runs on the shared dance clips, and EVALKIT_SHARED is not set",
                               hint="set EVALKIT_SHARED=../shared or pass --root DIR")
        return shared / board.default_root.split(":", 1)[1]
    if board.dataset != "synth":
        raise EvalkitError(f"the {split} board needs its dataset", hint="pass --root DATASET_DIR")
    return None



def results_dir(board_dir: Path, split: str) -> Path:
    return Path(board_dir) / "results" / split
