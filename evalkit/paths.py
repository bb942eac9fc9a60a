"""Where evalkit keeps its cache and finds the optional shared test material."""
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$EVALKIT_CACHE`` (default ``~/.cache/evalkit``), with ``parts`` appended and created."""
    root = Path(os.environ.get("EVALKIT_CACHE") or Path.home() / ".cache" / "evalkit")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_dir() -> Path | None:
    """The project's shared material: ``$EVALKIT_SHARED``, else a ``shared/`` folder beside the source
    checkout (the project's layout), else None. ``EVALKIT_SHARED=none`` turns the lookup off: what a user's
    fresh machine sees (the CI test of the main job runs so)."""
    value = os.environ.get("EVALKIT_SHARED")
    if value == "none":
        return None
    if value:
        return Path(value) if Path(value).is_dir() else None
    beside = Path(__file__).resolve().parents[2] / "shared"
    return beside if (beside / "weights").is_dir() else None
