"""``score_motion``: the motion metrics over a generated set (and a ground-truth set), as results like
``evalkit score`` writes them (aggregate rows, per-sequence rows, results.json / per_video.csv).

Each number comes with an interval: percentile bootstrap over sequences (seeded) for the means (PFC,
BeatAlign); for FID and Div the same resampling of both sets gives a spread, widened to contain the
value — FID's bootstrap is biased upward (repeated sequences shrink the effective N), so read it as the
spread, not a calibrated interval. Sets smaller than the feature dimension make singular covariances:
warned, since FID is then only comparable at equal set sizes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.motion.features_geometric import geometric_features
from evalkit.motion.features_kinetic import kinetic_features
from evalkit.motion.io import MotionSeq, load_set
from evalkit.motion.metrics import diversity, fid, normalize_by_gt
from evalkit.motion.pfc import SCALE, pfc_sequence, stride_for, to_edge_axes
from evalkit.results.schema import AGGREGATE_COLUMNS, build_record

METRICS = ("fid_k", "fid_g", "div_k", "div_g", "pfc", "beat_align_3d")
NEEDS_GT = ("fid_k", "fid_g", "div_k", "div_g")
BAILANDO_FPS = 60  # the rate Bailando's feature constants assume
MAX_PRED_FRAMES = 1200  # Bailando cuts generated motions to their first 1200 frames (ground truth is not cut)
SMALL_SET = 20
REFERENCES = {
    "fid_k": "Bailando utils/metrics_new.py + features/kinetic.py (72-d)",
    "fid_g": "Bailando utils/metrics_new.py + features/manual_new.py (32-d)",
    "div_k": "Bailando utils/metrics_new.py calculate_avg_distance (kinetic)",
    "div_g": "Bailando utils/metrics_new.py calculate_avg_distance (geometric)",
    "pfc": "EDGE eval/eval_pfc.py (z up, 30 fps, x10^4)",
    "beat_align_3d": "Bailando utils/beat_align_score.py (music -> motion, sigma 3 frames @60 fps)",
}
DIRECTION = {"fid_k": "↓", "fid_g": "↓", "div_k": "→", "div_g": "→", "pfc": "↓", "beat_align_3d": "↑"}


@dataclass
class MotionConfig:
    metrics: tuple[str, ...] = ()
    fps: float = 60.0
    up: str = "y"
    music_dir: str | None = None
    bootstrap: int = 200
    seed: int = 0
    warnings: list[str] = field(default_factory=list)


def default_metrics(has_gt: bool, has_music: bool) -> tuple[str, ...]:
    names = (NEEDS_GT if has_gt else ()) + ("pfc",)
    return names + (("beat_align_3d",) if has_music else ())


def check_metrics(names, has_gt: bool, has_music: bool) -> tuple[str, ...]:
    for name in names:
        if name not in METRICS:
            raise EvalkitError(f"unknown motion metric '{name}'", hint=f"choose from: {', '.join(METRICS)}")
        if name in NEEDS_GT and not has_gt:
            raise EvalkitError(f"motion metric '{name}' needs a ground-truth set", hint="pass --gt DIR")
        if name == "beat_align_3d" and not has_music:
            raise EvalkitError("motion metric 'beat_align_3d' needs the music", hint="pass --music DIR")
    return tuple(names)


def features(seqs: list[MotionSeq], max_frames: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Stacked (N, 72) kinetic and (N, 32) geometric float32 features, joints relative to the first frame's root."""
    kin, geo = [], []
    for s in seqs:
        p = s.joints[:max_frames] if max_frames else s.joints
        p = p - p[:1, :1]
        kin.append(kinetic_features(p))
        geo.append(geometric_features(p))
    return np.stack(kin), np.stack(geo)


def _interval(values: np.ndarray, value: float) -> tuple[float, float]:
    ok = values[np.isfinite(values)]
    if not ok.size or not math.isfinite(value):
        return math.nan, math.nan
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return float(min(lo, value)), float(max(hi, value))


def _resample(rng, n: int, b: int) -> np.ndarray:
    return rng.integers(0, n, size=(b, n))


def _set_rows(cfg: MotionConfig, pred: list[MotionSeq], gt: list[MotionSeq], rows: list[dict]) -> None:
    from evalkit.metrics.frechet import frechet_distance_batched, moments

    wanted = [m for m in NEEDS_GT if m in cfg.metrics]
    if not wanted:
        return
    if cfg.fps != BAILANDO_FPS:
        cfg.warnings.append(f"FID/Div features use Bailando's fixed 60 fps constants; these motions are at "
                            f"{cfg.fps:g} fps, so the numbers are not comparable with published ones")
    pk, pg = features(pred, MAX_PRED_FRAMES)
    gk, gg = features(gt, None)
    rng = np.random.default_rng(cfg.seed)
    ip, ig = _resample(rng, len(pred), cfg.bootstrap), _resample(rng, len(gt), cfg.bootstrap)
    for kind, (pf, gf) in {"k": (pk, gk), "g": (pg, gg)}.items():
        dims = pf.shape[1]
        g_norm, p_norm = normalize_by_gt(gf, pf)
        if min(len(pred), len(gt)) <= dims and f"fid_{kind}" in wanted:
            cfg.warnings.append(f"fid_{kind}: {len(pred)} generated / {len(gt)} ground-truth sequences for {dims} "
                                f"feature dimensions: singular covariances, compare only at equal set sizes")
        if f"fid_{kind}" in wanted:
            out = fid(p_norm, g_norm, f"fid_{kind}")
            mu1, s1 = zip(*(moments(p_norm[i]) for i in ip))
            mu2, s2 = zip(*(moments(g_norm[i]) for i in ig))
            boot = frechet_distance_batched(np.stack(mu1), np.stack(s1), np.stack(mu2), np.stack(s2))
            rows.append(_row(f"fid_{kind}", f"fid_{kind}", out["fid"], boot, len(pred), len(gt),
                             extra={"sqrtm_imag": out["sqrtm_imag"], "feature_dims": dims}))
        if f"div_{kind}" in wanted:
            for column, feats, idx in ((f"div_{kind}", p_norm, ip), (f"div_{kind}_gt", g_norm, ig)):
                boot = np.array([diversity(feats[i]) for i in idx[: max(cfg.bootstrap // 4, 1)]])
                rows.append(_row(f"div_{kind}", column, diversity(feats, column), boot, len(pred), len(gt)))


def _row(metric: str, column: str, value: float, boot: np.ndarray, n_pred: int, n_gt: int, extra=None) -> dict:
    lo, hi = _interval(np.asarray(boot, dtype=np.float64), value)
    return {"metric": metric, "column": column, "value": float(value), "ci_low": lo, "ci_high": hi,
            "n_videos": n_pred, "n_gt": n_gt, **(extra or {})}


def _mean_row(metric: str, values: np.ndarray, cfg: MotionConfig, scale: float = 1.0) -> dict:
    ok = values[np.isfinite(values)]
    value = float(ok.mean() * scale) if ok.size else math.nan
    rng = np.random.default_rng(cfg.seed)
    boot = ok[_resample(rng, len(ok), cfg.bootstrap)].mean(axis=1) * scale if ok.size else np.zeros(0)
    return {**_row(metric, metric, value, boot, int(ok.size), 0), "n_failed": int(values.size - ok.size)}


def _pfc_values(cfg: MotionConfig, pred: list[MotionSeq], per: dict) -> np.ndarray:
    stride = stride_for(cfg.fps)
    if stride > 1:
        cfg.warnings.append(f"pfc: {cfg.fps:g} fps motions taken every {stride} frames (EDGE's 30 fps)")
    values = []
    for s in pred:
        v = pfc_sequence(to_edge_axes(s.joints[::stride]), s.name)
        per[s.name]["pfc"] = v * SCALE
        values.append(v)
    return np.array(values)


def _beat_values(cfg: MotionConfig, pred: list[MotionSeq], per: dict) -> np.ndarray:
    from evalkit.audio.beats import music_beats
    from evalkit.io.audio import decode_audio, sidecar_for
    from evalkit.metrics.beat_align import bailando_beat_align

    per_60 = cfg.fps / BAILANDO_FPS  # Bailando's σ 3 frames and smoothing 5 frames are at 60 fps
    values = []
    for s in pred:
        music = sidecar_for(s.path, Path(cfg.music_dir))
        if music is None:
            raise EvalkitError(f"no music file named like the motion '{s.name}'", path=cfg.music_dir,
                               hint="name each music file like its motion (NAME.wav / .mp3 / .ogg …)")
        audio = decode_audio(music)
        beats = music_beats(audio.samples, audio.sample_rate, cfg.fps, "bailando", len(s.joints), path=music)
        v = bailando_beat_align(s.joints, beats.frames, sigma=3.0 * per_60, smooth=5.0 * per_60)
        per[s.name]["beat_align_3d"] = v
        values.append(v)
    return np.array(values)


def score_motion(pred_dir, gt_dir=None, *, metrics=None, fps: float = 60.0, up: str = "y", music_dir=None,
                 bootstrap: int = 200, seed: int = 0, out=None) -> pd.DataFrame:
    """Score the motions of ``pred_dir`` (against ``gt_dir``). Returns the aggregate DataFrame; its
    ``attrs`` hold 'per_video' and 'record' (written to ``out`` as results.json / per_video.csv)."""
    from evalkit.results.schema import write_results

    if not fps or fps <= 0:
        raise EvalkitError(f"--fps must be positive, got {fps}")
    if bootstrap < 1:
        raise EvalkitError(f"bootstrap must be at least 1, got {bootstrap}")
    names = check_metrics(metrics or default_metrics(gt_dir is not None, music_dir is not None),
                          gt_dir is not None, music_dir is not None)
    cfg = MotionConfig(names, float(fps), up, str(music_dir) if music_dir else None, bootstrap, seed)
    pred = load_set(pred_dir, up)
    gt = load_set(gt_dir, up) if gt_dir is not None and any(m in NEEDS_GT for m in names) else []
    per = {s.name: {"video": s.name, "set": "pred", "pred": str(s.path), "frames": len(s.joints), "fps": cfg.fps,
                    "joints_from": s.source} for s in pred}
    rows: list[dict] = []
    _set_rows(cfg, pred, gt, rows)
    if "pfc" in names:
        rows.append(_mean_row("pfc", _pfc_values(cfg, pred, per), cfg, SCALE))
    if "beat_align_3d" in names:
        rows.append(_mean_row("beat_align_3d", _beat_values(cfg, pred, per), cfg))
    if len(pred) < SMALL_SET:
        cfg.warnings.append(f"only {len(pred)} generated sequences: intervals are wide and FID is biased upward")
    aggregate = _aggregate(rows, pred, names)
    per_video = pd.DataFrame(list(per.values())).sort_values("video", kind="stable").reset_index(drop=True)
    record = build_record(aggregate=aggregate, identities=_identities(names, rows), settings=asdict(cfg),
                          counts=_counts(pred, gt), device="cpu", errors=[])
    record["warnings"] = list(cfg.warnings)
    if out is not None:
        write_results(out, record, per_video)
    aggregate.attrs.update(per_video=per_video, record=record, warnings=list(cfg.warnings))
    return aggregate


def _aggregate(rows: list[dict], pred: list[MotionSeq], names) -> pd.DataFrame:
    frames = int(sum(len(s.joints) for s in pred))
    records = [{**{k: r.get(k) for k in ("metric", "column", "value", "ci_low", "ci_high", "n_videos")},
                "preset": "edge" if r["metric"] == "pfc" else "bailando", "direction": DIRECTION[r["metric"]],
                "n_failed": r.get("n_failed", 0), "frames": frames, "reference": REFERENCES[r["metric"]]}
               for r in rows]
    order = {m: i for i, m in enumerate(names)}
    records.sort(key=lambda r: order[r["metric"]])
    return pd.DataFrame(records, columns=AGGREGATE_COLUMNS)


def _identities(names, rows) -> dict:
    import scipy

    ident = {}
    for name in names:
        extra = {k: v for r in rows if r["metric"] == name for k, v in r.items()
                 if k in ("sqrtm_imag", "feature_dims", "n_gt")}
        ident[name] = {"metric": name, "preset": "edge" if name == "pfc" else "bailando",
                       "reference": REFERENCES[name], "direction": DIRECTION[name], **extra,
                       "versions": {"numpy": np.__version__, "scipy": scipy.__version__}}
    return ident


def _counts(pred: list[MotionSeq], gt: list[MotionSeq]) -> dict:
    return {"videos": len(pred), "gt_sequences": len(gt), "frames": int(sum(len(s.joints) for s in pred)),
            "joints_from_forward_kinematics": sum(s.source.startswith("forward") for s in pred + gt)}
