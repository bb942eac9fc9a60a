"""Score every damage of every clip source with the metrics' own streaming states; the long table.

Each (source, damage) is one scoring run of fresh metric instances over the damaged clips, so every number
comes out exactly as `evalkit score` would give it: the raw score, its chance level (shift null), lift and z
with their bootstrap intervals, the set's z and the cross-music permutation p.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from evalkit.sensitivity.damages import Clip

#: metric -> (preset, the aggregate columns the table keeps)
SYNC_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "beat_align": ("bailando", ("beat_align", "beat_align_null", "beat_align_lift", "beat_align_z",
                                "beat_align_z_set", "beat_align_cross", "beat_align_p", "beat_align_motion_to_music",
                                "beat_align_motion_to_music_null", "beat_align_motion_to_music_lift",
                                "beat_align_motion_to_music_z", "beat_align_speed", "beat_align_still")),
    "av_align": ("tempotokens-2025", ("av_align", "av_align_null", "av_align_lift", "av_align_z", "av_align_z_set",
                                      "av_align_cross", "av_align_p")),
}
TABLE_COLUMNS = ("source", "damage", "metric", "column", "value", "ci_low", "ci_high", "n_videos")
#: metric -> preset of the appearance/distribution damages (damaged frames against the clean clip as ground truth)
APPEARANCE_METRICS: dict[str, str] = {"ssim": "clean", "psnr": "clean", "lpips": "clean", "fvd": "tf", "kvd": "tf"}


def items(clips: list[Clip], gt: list[Clip] | None = None):
    """ScoreItems of in-memory clips (the music as a loaded Audio), paired with ``gt`` clips when given."""
    from evalkit.io.audio import Audio
    from evalkit.io.item import ScoreItem
    from evalkit.io.video import Video

    for i, clip in enumerate(clips):
        video = Video(clip.frames, clip.fps, Path(f"{clip.key}.mp4"))
        truth = Video(gt[i].frames, gt[i].fps, Path(f"gt/{clip.key}.mp4")) if gt is not None else None
        audio = Audio(clip.samples, clip.sample_rate, Path(f"{clip.key}.wav"), "file")
        yield ScoreItem(clip.key, video, truth, lambda a=audio: a)


def score_pairs(clean: list[Clip], damaged: list[Clip], metrics: dict[str, str]) -> dict[str, dict]:
    """metric -> {value, ci_low, ci_high, n_videos, seconds} of the damaged clips against the clean ones. Frame
    metrics: the mean over videos with its bootstrap interval over videos (sync_null.mean_ci, as the sync rows);
    distribution metrics (FVD, KVD): their own value and interval."""
    from evalkit.metrics import build
    from evalkit.metrics.sync_null import mean_ci

    out = {}
    for name, preset in metrics.items():
        metric = build(name, preset)
        start = time.perf_counter()
        per_video = [metric.update(item).get(name, np.nan) for item in items(damaged, clean)]
        values = metric.compute()
        if f"{name}_ci_low" in values:
            value, low, high = values[name], values[f"{name}_ci_low"], values[f"{name}_ci_high"]
        else:
            value, low, high = mean_ci(np.asarray(per_video, dtype=np.float64))
        out[name] = {"value": value, "ci_low": low, "ci_high": high, "seconds": time.perf_counter() - start,
                     "n_videos": int(np.isfinite(np.asarray(per_video, dtype=np.float64)).sum())
                     if f"{name}_ci_low" not in values else len(damaged)}
    return out


def run_appearance(sources: dict[str, list[Clip]], damages: dict, metrics=APPEARANCE_METRICS,
                   progress=print) -> list[dict]:
    """The long table of the appearance/distribution damages: one row per (source, damage, metric)."""
    rows = []
    for source, clips in sources.items():
        for damage_name, damage in damages.items():
            damaged = [damage(clip, clips, i) for i, clip in enumerate(clips)]
            for name, r in score_pairs(clips, damaged, metrics).items():
                rows.append({"source": source, "damage": damage_name, "metric": name, "column": name,
                             "value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                             "n_videos": r["n_videos"]})
                if progress:
                    progress(f"{source:6s} {damage_name:16s} {name:6s} {r['value']:.4g} "
                             f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}] ({r['seconds']:.1f} s)")
    return rows


def score_clips(clips: list[Clip], metrics=SYNC_METRICS) -> dict[str, dict]:
    """metric -> {"values": compute(), "counts": counts(), "seconds": wall time} over ``clips``."""
    from evalkit.metrics import build

    out = {}
    for name, (preset, _) in metrics.items():
        metric = build(name, preset)
        start = time.perf_counter()
        for item in items(clips):
            metric.update(item)
        out[name] = {"values": metric.compute(), "counts": metric.counts(), "seconds": time.perf_counter() - start}
    return out


@contextmanager
def flow_once():
    """AV-Align's optical flow computed once per distinct video while the suite runs: most damages change only the
    music, and the flow depends on the frames alone (keyed by their sha256), so the same numbers come out."""
    import evalkit.features.flow as flow
    from evalkit.pose.cache import frames_sha256

    original, memo = flow.flow_trajectory, {}

    def once(frames, *args, **kwargs):
        key = frames_sha256(frames)
        if key not in memo:
            memo[key] = original(frames, *args, **kwargs)
        return memo[key].copy()

    flow.flow_trajectory = once
    try:
        yield
    finally:
        flow.flow_trajectory = original


def run(sources: dict[str, list[Clip]], damages: dict, metrics=SYNC_METRICS, progress=print) -> list[dict]:
    """The long table: one row per (source, damage, metric column)."""
    with flow_once():
        return _run(sources, damages, metrics, progress)


def _run(sources: dict[str, list[Clip]], damages: dict, metrics, progress) -> list[dict]:
    rows = []
    for source, clips in sources.items():
        for damage_name, damage in damages.items():
            damaged = [damage(clip, clips, i) for i, clip in enumerate(clips)]
            scored = score_clips(damaged, metrics)
            for name, (_, columns) in metrics.items():
                values, counts = scored[name]["values"], scored[name]["counts"]
                for column in columns:
                    rows.append({"source": source, "damage": damage_name, "metric": name, "column": column,
                                 "value": values.get(column, np.nan), "ci_low": values.get(f"{column}_ci_low", np.nan),
                                 "ci_high": values.get(f"{column}_ci_high", np.nan),
                                 "n_videos": counts["videos"] - counts.get("undefined", 0)})
                if progress:
                    progress(f"{source:6s} {damage_name:12s} {name:10s} {values[name]:.3f} "
                             f"lift {values.get(name + '_lift', np.nan):+.3f} z {values.get(name + '_z', np.nan):+.2f} "
                             f"(null {counts['null_ms'] / 1e3:.2f} s of {counts['update_ms'] / 1e3:.1f} s)")
    return rows


def write_table(rows: list[dict], out: Path, name: str = "sensitivity_table", render=None) -> tuple[Path, Path]:
    """The long table as CSV and a Markdown summary (``render``: the sync table's raw [chance], lift [95 % CI],
    mean z, set z, p by default; :func:`appearance_markdown` for the appearance damages)."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    csv = out / f"{name}.csv"
    frame.to_csv(csv, index=False, float_format="%.4f", lineterminator="\n")
    md = out / f"{name}.md"
    md.write_text((render or markdown)(frame), encoding="utf-8")
    return csv, md


def appearance_markdown(frame) -> str:
    """One row per (source, damage), one column per metric: value [95 % CI]."""
    metrics = list(dict.fromkeys(frame["metric"]))
    lines = ["| source | damage | N | " + " | ".join(metrics) + " |", "|---|---|---:|" + "---:|" * len(metrics)]
    for (source, damage), g in frame.groupby(["source", "damage"], sort=False):
        g = g.set_index("metric")
        cells = [f"{g.at[m, 'value']:.4g} [{g.at[m, 'ci_low']:.4g}, {g.at[m, 'ci_high']:.4g}]"
                 if m in g.index and np.isfinite(g.at[m, "value"]) else "–" for m in metrics]
        lines.append(f"| {source} | {damage} | {int(g['n_videos'].max())} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(frame) -> str:
    def cell(g, column, ci=True):
        r = g[g["column"] == column]
        if r.empty or not np.isfinite(r["value"].iloc[0]):
            return "–"
        v = r.iloc[0]
        text = f"{v['value']:.3f}"
        return text + (f" [{v['ci_low']:.3f}, {v['ci_high']:.3f}]" if ci and np.isfinite(v["ci_low"]) else "")

    lines = []
    for metric in dict.fromkeys(frame["metric"]):  # the metrics this run scored, in their order
        lines += [f"\n**{metric}**\n", "| source | damage | N | raw | chance (shift null) | lift [95 % CI] | mean z "
                  "| set z | cross-music chance | permutation p |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for (source, damage), g in frame[frame["metric"] == metric].groupby(["source", "damage"], sort=False):
            n = int(g["n_videos"].iloc[0])
            lines.append(f"| {source} | {damage} | {n} | {cell(g, metric, False)} | {cell(g, metric + '_null', False)} "
                         f"| {cell(g, metric + '_lift')} | {cell(g, metric + '_z', False)} "
                         f"| {cell(g, metric + '_z_set', False)} | {cell(g, metric + '_cross', False)} "
                         f"| {cell(g, metric + '_p', False)} |")
    return "\n".join(lines).lstrip() + "\n"
