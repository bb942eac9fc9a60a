"""Runs onto a board: run models on the board's split (`evalkit leaderboard run`) and store a run's results."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.leaderboard.boards import board_root, check_split, results_dir
from evalkit.leaderboard.entries import Entry


def store_run(run_dir: Path, split: str, board_dir: Path) -> Path:
    """Copy a run's results.json (and per_video.csv, paths made relative to the run) into the board's results."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / "results.json").read_text())
    model = record.get("run", {}).get("model")
    if not model:
        raise EvalkitError("results.json has no run block", path=run_dir / "results.json",
                           hint="store runs made by `evalkit run-model`")
    dest = results_dir(board_dir, split) / model
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "results.json", dest / "results.json")
    per_video = run_dir / "per_video.csv"
    if per_video.is_file():
        text = per_video.read_text()
        for sub in ("pred", "gt"):
            text = text.replace(str((run_dir / sub).resolve()) + "/", f"{sub}/").replace(str(run_dir / sub) + "/", f"{sub}/")
        (dest / "per_video.csv").write_text(text)
    return dest


def protocol(entry: Entry) -> dict:
    """How a committed result was made (run_model keyword arguments), so `check` can remake it."""
    run, settings = entry.record.get("run", {}), entry.record.get("settings", {})
    return {"seed": run.get("seed", 0), "limit": run.get("limit"), "options": run.get("options") or {},
            "metrics": list(settings.get("metrics") or []) or None, "preset": settings.get("preset", "clean")}


def run_board(split: str, models, board_dir: Path, root=None, work: Path | None = None, device: str = "cpu",
              jobs: int = 1, progress: bool = True, protocols: dict | None = None) -> dict[str, Path]:
    """Run ``models`` on the board's split (run folders under ``work``); returns model -> run folder."""
    from evalkit.runner import run_model

    board = check_split(split)
    root = board_root(split, root)
    work = Path(work or Path("runs") / f"leaderboard-{split}")
    out = {}
    for model in models:
        kw = dict((protocols or {}).get(model, {}))
        run_model(model, split=board.part, dataset=board.dataset, root=root, out=work / model, device=device,
                  jobs=jobs, progress=progress, seed=kw.get("seed", 0), limit=kw.get("limit"),
                  metrics=kw.get("metrics"), options=kw.get("options"), preset=kw.get("preset", "clean"))
        out[model] = work / model
    return out
