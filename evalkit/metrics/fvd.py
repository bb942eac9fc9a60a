"""FVD: Fréchet distance between I3D Kinetics-400 logits of generated and real video clips.

Protocols (presets) reproduce the published implementations (docs/metric-spec-notes.md §1):

* ``tf`` (default) — the original: TF1 legacy bilinear straight to 224x224, ``2x/255 - 1``, 16-frame
  clips (non-overlapping tiles from frame 0), covariance N-1, TF-GAN symmetric-sqrt trace;
* ``stylegan-v`` — one 16-frame clip per video (real: random offset, fake: offset 0), at most 2048
  clips per side, covariance divided by N, scipy ``sqrtm``;
* ``disco`` — Pillow bicubic on float per channel to 224x224, ``x/127.5 - 1``, sliding 16-frame windows
  (stride 1; ``gt_clips=pred_clips='whole'`` for one clip per file), N-1, scipy ``sqrtm``;
* ``jh`` — short side to 224 (bilinear) + centre crop, all frames as one clip (>= 10), N-1, scipy.

Clips go through the batched I3D pipeline and its cache (evalkit.features.i3d_pipeline) into float64 sums with
a Poisson bootstrap (evalkit.metrics.fvd_sums; the capped ``stylegan-v`` keeps at most 2048 features per side,
those with the smallest content hashes); reference statistics files: evalkit.metrics.fvd_stats.
"""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.features.clips import Clip, plan_clips
from evalkit.features.i3d import PRECISIONS
from evalkit.features.i3d_pipeline import (I3DPipeline, Job, extractor_identity, feature_cache, is_i3d,
                                            load_i3d, video_content_id)
from evalkit.metrics.base import Metric
from evalkit.metrics.frechet import frechet_distance, warn_small_n
from evalkit.metrics.fvd_interval import METHOD as INTERVAL_METHOD, bootstrap_interval
from evalkit.metrics.fvd_sums import LEAVES, DeviceSums, bootstrap_fds, declare, keep_smallest, moments, sums_of
from evalkit.metrics.fvd_stats import load_stats
from evalkit.options import Spec

SMALL_N = 256
SIDES = ("pred", "gt")
_FEATURE_KEYS = ("resize", "clip_len", "stride", "min_frames", "max_clips", "precision")  # change a side's features

# cudnn_benchmark off by default: autotuning 3-D convolutions for every new batch shape cost ~26 s per process
# on an H200 (fp32, two shapes per video), longer than scoring a 20-s video; cuDNN's heuristics also pick the
# same algorithms on every run. `evalkit stats make` over many clips can turn it on.
_COMMON = {"batch_size": 16, "bootstrap": 100, "precision": "fp32", "cache": True, "compile": False,
           "gt_stats": None, "cudnn_benchmark": False}


class FVD(Metric):
    name = "fvd"
    higher_is_better = False
    needs = ("pred", "gt")
    reference = "FVD: Fréchet distance of I3D Kinetics-400 pre-softmax logits (TF-Hub deepmind/i3d-kinetics-400/1)"
    on_boards = True
    drift_tolerance = (0.5, 5e-3)
    computes_on_gpu = True  # the bootstrap's batched eigh, in the merging process
    takes_gt_stats = True
    shared = ("_extractor", "_fixed_gt")  # clones use the loaded network and fixed gt statistics, never a copy
    presets = {
        "tf": {"resize": "tf1-bilinear", "gt_clips": "windows", "pred_clips": "windows", "clip_len": 16,
               "stride": 16, "min_frames": 16, "max_clips": 0, "ddof": 1, "fd": "tfgan", **_COMMON},
        "stylegan-v": {"resize": "tf1-bilinear", "gt_clips": "random", "pred_clips": "first", "clip_len": 16,
                       "stride": 16, "min_frames": 16, "max_clips": 2048, "ddof": 0, "fd": "scipy", **_COMMON},
        "disco": {"resize": "pil-bicubic", "gt_clips": "windows", "pred_clips": "windows", "clip_len": 16,
                  "stride": 1, "min_frames": 16, "max_clips": 0, "ddof": 1, "fd": "scipy", **_COMMON},
        "jh": {"resize": "shortside-crop", "gt_clips": "whole", "pred_clips": "whole", "clip_len": 0,
               "stride": 0, "min_frames": 10, "max_clips": 0, "ddof": 1, "fd": "scipy", **_COMMON},
    }

    _CLIPS = Spec(str, choices=("windows", "random", "first", "whole"))
    option_types = {"gt_stats": Spec(str, nullable=True), "bootstrap": Spec(int, minimum=0),
                    "batch_size": Spec(int, minimum=1), "max_clips": Spec(int, minimum=0), "ddof": Spec(int, minimum=0),
                    "gt_clips": _CLIPS, "pred_clips": _CLIPS, "precision": Spec(str, choices=PRECISIONS)}
    runtime_options = {"extractor": Spec(callable, nullable=True), "protocol": Spec(str, nullable=True)}

    def __init__(self, preset: str | None = None, device: str = "cpu", extractor=None, protocol: str | None = None,
                 **overrides):
        """``protocol`` is an alias of ``preset``. ``extractor``: optional callable (B, 3, T, 224, 224) ->
        (B, D) replacing I3D (tests, research); it exposes ``dim`` and an ``info`` dict (its identity)."""
        if protocol is not None and preset is not None and protocol != preset:
            raise EvalkitError(f"fvd: preset '{preset}' and protocol '{protocol}' disagree", hint="give one of them")
        preset = preset or protocol
        self._extractor = extractor
        self._dim = getattr(extractor, "dim", 400)
        self._fixed_gt: dict | None = None
        self._last: dict = {}
        super().__init__(preset, device, **overrides)
        if self.settings["gt_stats"]:
            self._fixed_gt = load_stats(self.settings["gt_stats"], self)
            self.needs = ("pred",)

    # --- state: the sums (or, capped, the features) of each side ---------------------------------------
    @property
    def _sides(self) -> tuple[str, ...]:
        return ("pred",) if self.settings.get("gt_stats") else SIDES

    @property
    def capped(self) -> bool:
        return int(self.settings["max_clips"]) > 0

    def reset(self) -> None:
        d, b = self._dim, int(self.settings["bootstrap"])
        for side in self._sides:
            for count in ("videos", "short", "cached"):
                self.add_state(f"{side}_{count}", 0.0)
            declare(self.add_state, side, d, b, self.capped)
        s = self.settings
        self._pipeline = I3DPipeline(self.device, s["batch_size"], s["resize"], self._dim)
        self._sums: DeviceSums | None = None  # built on the first features added

    def _settle(self) -> None:
        """Every queued clip's features added and every device delta in the numpy state: before it is read."""
        self._flush()
        if self._sums is not None:
            self._sums.sync(self._state)

    def state_dict(self):
        self._settle()
        return super().state_dict()

    def load_state_dict(self, state):
        self._settle()
        super().load_state_dict(state)
        self._sums = None

    def merge(self, other: "FVD") -> "FVD":
        for m in (self, other):
            m._settle()
        super().merge(other)
        self._sums = None
        if self.capped:
            for side in self._sides:
                keep_smallest(self._state, side, int(self.settings["max_clips"]))
        return self

    def clone(self) -> "FVD":
        """A settled deep copy (no queued clips, no device deltas) sharing the network and fixed gt statistics;
        its device sums are its own (``DeviceSums`` is never copied), built on its first features."""
        self._settle()
        return super().clone()

    # --- features -------------------------------------------------------------------------------------
    def feature_settings(self, side: str) -> dict:
        """What a side's clip features depend on: the feature-cache key and a stats file's compatibility."""
        s = {k: self.settings[k] for k in _FEATURE_KEYS}
        s["clips"] = self.settings[f"{side}_clips"]
        s["extractor"] = self.extractor_info().get("tensors_sha256", "custom")
        return s

    def extractor_info(self) -> dict:
        return extractor_identity(self._extractor)

    def prepare(self) -> None:
        self._get_extractor()

    def _get_extractor(self):
        if self._extractor is None:
            self._extractor = load_i3d(self.device, self.settings)
        return self._extractor

    def plan(self, side: str, num_frames: int, content_id: str) -> list[Clip]:
        s = self.settings
        return plan_clips(num_frames, s[f"{side}_clips"], int(s["clip_len"]), int(s["stride"]), content_id,
                          int(s["min_frames"]))

    def add_video(self, side: str, frames, content_id: str, shape: tuple[int, int, int] | None = None,
                  prepared=None) -> int:
        """Queue one video's clips (uint8 frames (T, H, W, 3), or already prepared (T, 3, 224, 224)
        floats); returns its number of clips (0: too short, counted)."""
        shape = shape or tuple(int(v) for v in frames.shape[:3])
        clips = self.plan(side, shape[0], content_id)
        if not clips:
            self._state[f"{side}_videos"] += 1
            self._state[f"{side}_short"] += 1
            return 0
        cache = feature_cache(self.settings["cache"], self.extractor_info(), self.feature_settings(side))
        entry = cache.get(content_id, shape) if cache else None
        if entry is not None:
            return self.add_cached(side, entry)
        self._state[f"{side}_videos"] += 1
        self._pipeline.put(Job(side, frames, prepared, clips, content_id, shape, cache), self._get_extractor,
                           self.add_features)
        return len(clips)

    def add_cached(self, side: str, entry: dict) -> int:
        """Add one video's cached clip features (a :class:`FeatureCache` entry)."""
        self._state[f"{side}_videos"] += 1
        self._state[f"{side}_cached"] += 1
        self.add_features(side, np.asarray(entry["feats"]), np.asarray(entry["seeds"]))
        return int(len(entry["seeds"]))

    def _flush(self) -> None:
        """Run I3D on every queued clip and add all features to the statistics (before any state is read)."""
        self._pipeline.flush(self._get_extractor, self.add_features)

    def add_features(self, side: str, feats, seeds) -> None:
        """Add clip features (n, D) with their content seeds (n,) to one side's statistics."""
        feats = np.asarray(feats, dtype=np.float64).reshape(-1, self._dim)
        seeds = np.asarray(seeds, dtype=np.int64).reshape(-1)
        if not np.isfinite(feats).all():
            raise EvalkitError(f"fvd: {int((~np.isfinite(feats)).any(1).sum())} clip feature(s) are not finite",
                               hint="check the input frames (NaN/inf) or use precision=fp32")
        if self.capped:
            self._state[f"{side}_keys"] = np.concatenate([self._state[f"{side}_keys"], seeds.astype(np.float64)])
            self._state[f"{side}_feats"] = np.concatenate([self._state[f"{side}_feats"], feats])
            keep_smallest(self._state, side, int(self.settings["max_clips"]))
            return
        if self._sums is None:
            self._sums = DeviceSums(self._state, self._sides, self.device)
        self._sums.add(side, feats, seeds, int(self.settings["bootstrap"]))

    # --- metric API -----------------------------------------------------------------------------------
    def update(self, item) -> dict[str, float]:
        row = {}
        for side in self._sides:
            video = item.pred if side == "pred" else item.gt
            if video is None:
                raise EvalkitError("FVD needs the ground-truth video of every item", path=item.pred.path,
                                   hint="pair it with a gt video, or pass --gt-stats FILE")
            row[f"fvd_clips_{side}"] = float(self.add_video(side, video.frames, video_content_id(video)))
        return row

    def side_sums(self, side: str) -> dict[str, np.ndarray]:
        """n, sum, outer, boot_n, boot_sum, boot_outer of one side (float64 numpy)."""
        if side == "gt" and self._fixed_gt is not None:
            return {k: self._fixed_gt[k] for k in LEAVES}
        self._settle()
        if not self.capped:
            return {k: self._state[f"{side}_{k}"].copy() for k in LEAVES}
        keys = self._state[f"{side}_keys"].astype(np.int64)
        return sums_of(keys, self._state[f"{side}_feats"], int(self.settings["bootstrap"]))

    def num_clips(self, side: str) -> int:
        if side == "gt" and self._fixed_gt is not None:
            return int(self._fixed_gt["n"])
        self._settle()
        return int(len(self._state[f"{side}_keys"]) if self.capped else self._state[f"{side}_n"])

    def side_counts(self, side: str) -> dict[str, float]:
        if side == "gt" and self._fixed_gt is not None:
            return {k: float(self._fixed_gt["meta"]["counts"][k]) for k in ("videos", "short", "cached")}
        return {k: float(self._state[f"{side}_{k}"]) for k in ("videos", "short", "cached")}

    def compute(self) -> dict[str, float]:
        """{'fvd', 'fvd_ci_low', 'fvd_ci_high'}; NaN (with a warning) when a side has too few clips.
        Clip/video counts are in :meth:`counts`, the FD's parts and warnings in :meth:`identity`."""
        ddof, method = int(self.settings["ddof"]), self.settings["fd"]
        sums = {side: self.side_sums(side) for side in SIDES}
        n = {side: float(sums[side]["n"]) for side in SIDES}
        out = {"fvd": float("nan"), "fvd_ci_low": float("nan"), "fvd_ci_high": float("nan")}
        self._last = {"warnings": [], "n": n, "bootstrap_valid": 0}
        if min(n.values()) > ddof:
            fd = frechet_distance(*moments(sums["pred"], ddof), *moments(sums["gt"], ddof), method=method)
            out["fvd"] = fd["fd"]
            fds = bootstrap_fds(sums, SIDES, ddof, self._dim, self.device)
            out["fvd_ci_low"], out["fvd_ci_high"] = bootstrap_interval(out["fvd"], fds)
            self._last.update(bootstrap_valid=len(fds), bootstrap_fds=fds)
            self._last["terms"] = {k: fd[k] for k in ("mean_term", "trace_term", "sqrtm_imag")}
        else:
            self._last["warnings"].append(
                f"FVD undefined: needs more than {ddof} clip(s) per side (pred {int(n['pred'])}, gt {int(n['gt'])})")
        warn_small_n(self._last["warnings"], "FVD", "clips", n, SMALL_N,
                     "biased upward and unstable; compare only at equal N, see the bootstrap interval")
        return out

    def counts(self) -> dict[str, int]:
        """Clips and videos per side: scored, too short (no clip; never dropped silently), from the cache."""
        out = {}
        for side in SIDES:
            c = self.side_counts(side)
            out.update({f"clips_{side}": self.num_clips(side), f"videos_{side}": int(c["videos"]),
                        f"videos_short_{side}": int(c["short"]), f"videos_cached_{side}": int(c["cached"])})
        out["bootstrap_valid"] = int(self._last.get("bootstrap_valid", 0))
        return out

    def identity(self) -> dict:
        ident = super().identity()
        s = self.settings
        reference_mode = s["precision"] == "fp32" and is_i3d(self._extractor)
        ident.update({
            "protocol": self.preset,
            "frames_per_clip": "all" if s["gt_clips"] == "whole" else int(s["clip_len"]),
            "stride": int(s["stride"]) if "windows" in (s["gt_clips"], s["pred_clips"]) else None,
            "clip_sampling": {"gt": s["gt_clips"], "pred": s["pred_clips"], "max_clips": int(s["max_clips"]) or None},
            "resolution": 224,
            "resize": s["resize"],
            "covariance": "N-1" if int(s["ddof"]) == 1 else "N",
            "sqrt": s["fd"],
            "weights": self.extractor_info(),
            "precision": s["precision"],
            # tf32/bf16 run the restructured network (fused pointwise convs, space-to-depth stem): same function
            "layers": "fused" if getattr(self._extractor, "fuse", s["precision"] != "fp32") else "plain",
            "reference_mode": reference_mode,
            "bootstrap": {"replicates": int(s["bootstrap"]), "weights": "Poisson(1) per clip from its content hash",
                          "interval": INTERVAL_METHOD, "sqrt": "eigh", "fds": list(map(float, self._last.get("bootstrap_fds", ())))},
            "N": {k: int(v) for k, v in self._last.get("n", {}).items()},
            "fd_terms": dict(self._last.get("terms", {})),
            "warnings": list(self._last.get("warnings", [])),
        })
        if not reference_mode:
            why = f"{s['precision']} features" if s["precision"] != "fp32" else "custom extractor"
            ident["reference"] = f"NON-REFERENCE ({why}): {self.reference}"
        if self._fixed_gt is not None:
            ident["gt_stats"] = {"path": str(s["gt_stats"]), **self._fixed_gt["meta"].get("source", {})}
        return ident
