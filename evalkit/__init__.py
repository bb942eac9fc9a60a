"""evalkit: benchmark and evaluation toolkit for music-driven human dance video generation."""
from evalkit.version import __version__  # noqa: F401  (evalkit.__version__)


def score(pred, gt, **kwargs):
    """Score the videos in ``pred`` against ``gt``; returns a pandas DataFrame (see evalkit.scoring.score)."""
    from evalkit.scoring import score as _score

    return _score(pred, gt, **kwargs)


def compare(*runs, out=None, **kwargs):
    """Paired differences of runs (result folders) against the first; a pandas DataFrame (evalkit.comparison)."""
    from evalkit.comparison import compare as _compare

    return _compare(list(runs), out, **kwargs)
