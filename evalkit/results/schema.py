"""The results record written next to every score: settings, identities, versions, counts, values."""
from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

SCHEMA_VERSION = 1
_PACKAGES = ("evalkit", "torch", "torchvision", "numpy", "scipy", "av", "opencv-contrib-python", "librosa",
             "soxr", "lpips", "mediapipe", "onnxruntime", "pandas", "scikit-image")

AGGREGATE_COLUMNS = ["metric", "column", "preset", "direction", "value", "ci_low", "ci_high", "n_videos",
                     "n_failed", "frames", "reference"]


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if np.isnan(v) else (v if np.isfinite(v) else str(v))
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def build_record(*, aggregate: pd.DataFrame, identities: dict, counts: dict, settings: dict, device: str,
                 errors: list[dict]) -> dict:
    from evalkit.version import __version__

    return _jsonable({
        "schema": SCHEMA_VERSION,
        "evalkit_version": __version__,
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "settings": settings,
        "versions": package_versions(),
        "counts": counts,
        "metrics": identities,
        "aggregate": aggregate.to_dict(orient="records"),
        "errors": errors,
    })


def write_results(out_dir: str | Path, record: dict, per_video: pd.DataFrame) -> Path:
    from evalkit.results.outdir import write_atomic  # temp file + rename: never half a file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "per_video.csv", per_video.to_csv(index=False, float_format="%.10g"))
    write_atomic(out / "results.json", json.dumps(record, indent=2, sort_keys=False) + "\n")
    return out / "results.json"


def read_results(path: str | Path) -> tuple[dict, pd.DataFrame]:
    path = Path(path)
    record = json.loads((path / "results.json" if path.is_dir() else path).read_text())
    return record, pd.DataFrame(record["aggregate"])
