"""Training logs shared by the reference models' trainers: the CSV loss log, its progress bar and its plots.

Every stage appends rows of LOG_COLUMNS to ``<stage dir>/log.csv``; ``plot_log`` draws one stage (loss and its
two parts), ``plot_curves`` one panel per stage for the run's ``loss_curves.png``.
"""
from __future__ import annotations

import csv
from pathlib import Path

LOG_COLUMNS = ("step", "loss", "part_a", "part_b", "lr", "seconds")


def start_log(path: Path, resume: bool) -> None:
    """A fresh log with its header, unless resuming a stage whose log exists."""
    if not resume or not path.exists():
        with open(path, "w", newline="") as fh:
            csv.writer(fh).writerow(LOG_COLUMNS)


def flush_log(path: Path, rows: list, main: bool) -> None:
    """Append buffered rows (only the main process writes)."""
    if rows and main:
        with open(path, "a", newline="") as fh:
            csv.writer(fh).writerows(rows)


def progress_bar(enabled: bool, label: str, total: int, done: int):
    """A started rich progress bar and its task id, or None."""
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("{task.description}"))
    bar.start()
    return bar, bar.add_task("", total=total, completed=done)


def read_log(path: Path) -> dict[str, list[float]]:
    cols: dict[str, list[float]] = {c: [] for c in LOG_COLUMNS}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for c in LOG_COLUMNS:
                cols[c].append(float(row[c]))
    return cols


def _smoothed(ax, x, y, label=None) -> None:
    """Raw values faintly, and their 50-step moving average."""
    import numpy as np

    k = min(50, len(y))
    ax.plot(x, y, alpha=0.3)
    ax.plot(x[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), label=label)


def plot_log(log_path: Path, png: Path, title: str, part_names=("part_a", "part_b")) -> Path | None:
    """Loss (raw and 50-step moving average, log scale) and the two logged parts of one stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    log = read_log(log_path)
    if not log["step"]:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    x = np.array(log["step"])
    for ax, keys, names in ((axes[0], ("loss",), ("loss",)), (axes[1], ("part_a", "part_b"), part_names)):
        for key, name in zip(keys, names):
            _smoothed(ax, x, np.array(log[key]), name)
        if all((np.array(log[k]) > 0).all() for k in keys):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def plot_curves(panels: list[tuple[str, Path]], png: Path, width: float = 4.0) -> Path | None:
    """One loss panel per (title, log.csv) that exists, side by side; None when there is none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [(title, path) for title, path in panels if Path(path).is_file()]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), 3.2), squeeze=False)
    for ax, (title, path) in zip(axes[0], panels):
        log = read_log(path)
        y, x = np.array(log["loss"]), np.array(log["step"])
        if len(y):
            _smoothed(ax, x, y)
            if (y > 0).all():
                ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
