"""Leaderboards: one CSV per split, built only from committed result files, and a drift check against them.

Layout (under ``leaderboards/`` of the repository, or ``--dir``)::

    results/<split>/<model>/results.json   a run's results (evalkit run-model), committed
    results/<split>/<model>/per_video.csv  its per-video rows (paths relative to the run folder)
    <split>.csv                            the board: made by `evalkit leaderboard build`, never by hand

A board has one row per generator (registry order, then any other model alphabetically): model, version,
pose backend (the one BeatAlign used), date (the results' own date); then per metric column
``<name> (<preset>) <↑|↓>`` its value, 95 % interval (low, high) and N (videos scored). The interval is the
metric's own where it gives one (FVD: bootstrap over clips); else a percentile bootstrap over videos
(2000 resamples, seed 0) from per_video.csv when the aggregate is the plain or frame-weighted mean of the
per-video values (empty otherwise, and with fewer than two videos). A generator without results for the split
has "not run" in every metric cell. All boards share one column layout: the union of the columns in every
committed result. Numbers are written with four decimals, rows and columns in a fixed order, ``\\n`` line
ends — the same files give the same bytes.

The modules, in the order data flows through them: ``boards`` (the registry of boards, the baselines `check`
re-runs, tolerances), ``entries`` (committed results read back, intervals over videos), ``tables`` (rows,
CSV, Markdown), ``runs`` (run models onto a board, store a run), ``drift`` (`check`, `compare`, `stale`).
This package imports their public names, so ``from evalkit import leaderboard`` users see one namespace.
"""
from evalkit.leaderboard.boards import (BOARDS, CHECK_MODELS, DEFAULT_TOLERANCE, Board, board_names, board_root,
                                        check_split, metric_tolerances, results_dir)
from evalkit.leaderboard.drift import Drift, check, compare, preflight, stale
from evalkit.leaderboard.entries import (BOOTSTRAP, Entry, add_video_intervals, all_columns, column_key,
                                         entry_from_record, load_entry, model_order, read_entries, video_interval)
from evalkit.leaderboard.runs import protocol, run_board, store_run
from evalkit.leaderboard.tables import (FMT, META, MISSING, NOT_RUN, build, header, label, markdown, read_board,
                                        row_cells, table, to_csv)

__all__ = [
    "BOARDS", "BOOTSTRAP", "Board", "CHECK_MODELS", "DEFAULT_TOLERANCE", "Drift", "Entry", "FMT", "META", "MISSING",
    "NOT_RUN", "add_video_intervals", "all_columns", "board_names", "board_root", "build", "check", "check_split",
    "column_key", "compare", "entry_from_record", "header", "label", "load_entry", "markdown", "metric_tolerances",
    "model_order", "preflight", "protocol", "read_board", "read_entries", "results_dir", "row_cells", "run_board",
    "stale", "store_run", "table", "to_csv", "video_interval",
]
