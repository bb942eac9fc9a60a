"""FVD: Fréchet distance between I3D Kinetics-400 logits of generated and real video clips.

Protocols (presets) reproduce the published implementations (docs/metric-spec-notes.md §1):

* ``tf`` (default) — the original: TF1 legacy bilinear straight to 224x224, ``2x/255 - 1``, 16-frame
  clips (non-overlapping tiles from frame 0), covariance N-1, TF-GAN symmetric-sqrt trace;
* ``stylegan-v`` — one 16-frame clip per video (real: random offset, fake: offset 0), at most 2048
  clips per side, covariance divided by N, scipy ``sqrtm``;
* ``disco`` — Pillow bicubic on float per channel to 224x224, ``x/127.5 - 1``, sliding 16-frame windows
  (stride 1; ``gt_clips=pred_clips='whole'`` for one clip per file), N-1, scipy ``sqrtm``;
* ``jh`` — short side to 224 (bilinear) + centre crop, all frames as one clip (>= 10), N-1, scipy.

Statistics stream: per side, float64 running sums of features and of their outer products, plus the
same sums for B Poisson(1) bootstrap replicates whose per-clip weights are drawn from the clip's content
hash — so shards merge exactly and the interval does not depend on order or sharding. Only the capped
``stylegan-v`` protocol keeps features (at most 2048 per side: those with the smallest content hashes).
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import torch

from evalkit.errors import EvalkitError
from evalkit.features.clips import Clip, plan_clips
from evalkit.metrics.base import Metric
from evalkit.metrics.frechet import frechet_distance, frechet_distance_batched
from evalkit.metrics.fvd_interval import METHOD as INTERVAL_METHOD, bootstrap_interval
from evalkit.options import Spec

SMALL_N = 256
STATS_FORMAT = "evalkit-fvd-stats/1"
SIDES = ("pred", "gt")
# settings that change the features of a side (cache key, stats-file compatibility)
_FEATURE_KEYS = ("resize", "clip_len", "stride", "min_frames", "max_clips", "precision")

# cudnn_benchmark off by default: autotuning 3-D convolutions for every new batch shape cost ~26 s per process
# on an H200 (fp32, two shapes per video), longer than scoring a 20-s video; cuDNN's heuristics also pick the
# same algorithms on every run. `evalkit stats make` over many clips can turn it on.
_COMMON = {"batch_size": 16, "bootstrap": 100, "precision": "fp32", "cache": True, "compile": False,
           "gt_stats": None, "cudnn_benchmark": False}


def _poisson_cdf(kmax: int = 24) -> np.ndarray:
    pmf = np.array([math.exp(-1.0) / math.factorial(k) for k in range(kmax)])
    return np.cumsum(pmf)


_CDF = _poisson_cdf()


def poisson_weights(seeds, replicates: int) -> np.ndarray:
    """(n,) clip seeds -> (n, B) Poisson(1) weights, a pure function of (seed, replicate)."""
    with np.errstate(over="ignore"):  # splitmix64 relies on wrapping uint64 arithmetic
        z = np.asarray(seeds, dtype=np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
        z = z + np.arange(1, replicates + 1, dtype=np.uint64)[None, :] * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return np.searchsorted(_CDF, u, side="right").astype(np.float64)


_TRIU: dict = {}


def _triu(dim: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row/column indices of the packed upper triangle (cached per dim and device)."""
    key = (dim, str(device))
    if key not in _TRIU:
        iu = torch.triu_indices(dim, dim, device=device)
        _TRIU[key] = (iu[0], iu[1])
    return _TRIU[key]


def _unpack(packed: torch.Tensor, dim: int) -> torch.Tensor:
    """(..., D(D+1)/2) upper triangles -> (..., D, D) symmetric, on the tensor's device."""
    i, j = _triu(dim, packed.device)
    out = packed.new_zeros(packed.shape[:-1] + (dim, dim))
    out[..., i, j] = packed
    out[..., j, i] = packed
    return out


def _accumulate(acc: dict, feats: torch.Tensor, weights: torch.Tensor, triu) -> None:
    """Add features (n, D) and bootstrap weights (n, B), float64 on acc's device, into the sums."""
    acc["n"] += feats.shape[0]
    acc["sum"] += feats.sum(0)
    acc["outer"] += feats.T @ feats
    acc["boot_n"] += weights.sum(0)
    acc["boot_sum"] += weights.T @ feats
    for i in range(0, feats.shape[0], 64):  # packed outer products, 64 clips at a time (bounded memory)
        f = feats[i:i + 64]
        acc["boot_outer"] += weights[i:i + 64].T @ (f[:, triu[0]] * f[:, triu[1]])


class FVD(Metric):
    name = "fvd"
    higher_is_better = False
    needs = ("pred", "gt")
    reference = "FVD: Fréchet distance of I3D Kinetics-400 pre-softmax logits (TF-Hub deepmind/i3d-kinetics-400/1)"
    on_boards = True
    drift_tolerance = (0.5, 5e-3)
    computes_on_gpu = True  # the bootstrap's batched eigh, in the merging process
    takes_gt_stats = True
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
                    "gt_clips": _CLIPS, "pred_clips": _CLIPS}
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
        from evalkit.features.i3d import PRECISIONS

        if self.settings["precision"] not in PRECISIONS:
            raise EvalkitError(f"fvd: unknown precision '{self.settings['precision']}'",
                               hint=f"choose one of: {', '.join(PRECISIONS)}")
        for key in ("gt_clips", "pred_clips"):
            if self.settings[key] not in ("windows", "random", "first", "whole"):
                raise EvalkitError(f"fvd: unknown clip sampling '{self.settings[key]}'",
                                   hint="choose windows, random, first or whole")
        if self.settings["gt_stats"]:
            self._fixed_gt = load_stats(self.settings["gt_stats"], self)
            self.needs = ("pred",)

    # --- state ----------------------------------------------------------------------------------------
    @property
    def _sides(self) -> tuple[str, ...]:
        return ("pred",) if self.settings.get("gt_stats") else SIDES

    @property
    def capped(self) -> bool:
        return int(self.settings["max_clips"]) > 0

    def reset(self) -> None:
        d, b = self._dim, int(self.settings["bootstrap"])
        for side in self._sides:
            self.add_state(f"{side}_videos", 0.0)
            self.add_state(f"{side}_short", 0.0)
            self.add_state(f"{side}_cached", 0.0)
            if self.capped:
                self.add_state(f"{side}_keys", np.zeros((0,)), "cat")
                self.add_state(f"{side}_feats", np.zeros((0, d)), "cat")
            else:
                self.add_state(f"{side}_n", 0.0)
                self.add_state(f"{side}_sum", np.zeros(d))
                self.add_state(f"{side}_outer", np.zeros((d, d)))
                self.add_state(f"{side}_boot_n", np.zeros(b))
                self.add_state(f"{side}_boot_sum", np.zeros((b, d)))
                self.add_state(f"{side}_boot_outer", np.zeros((b, d * (d + 1) // 2)))
        self._pending: list = []
        self._pending_clips = 0
        self._inflight: list = []  # launched I3D batches whose features are not read back yet
        self._accs: dict | None = None

    _LEAVES = ("n", "sum", "outer", "boot_n", "boot_sum", "boot_outer")

    def _accumulators(self) -> dict:
        """Per side, torch views of the sums: the numpy state itself on CPU, device deltas on CUDA."""
        if self._accs is None:
            dev = torch.device(self.device)
            self._accs = {}
            for side in self._sides:
                if dev.type == "cpu":
                    acc = {k: torch.from_numpy(self._state[f"{side}_{k}"]) for k in self._LEAVES}
                else:
                    acc = {k: torch.zeros(self._state[f"{side}_{k}"].shape, dtype=torch.float64, device=dev)
                           for k in self._LEAVES}
                self._accs[side] = acc
        return self._accs

    def _sync(self) -> None:
        """Move device deltas into the numpy state (a no-op on CPU, where they are the state)."""
        if self._accs is None or torch.device(self.device).type == "cpu" or self.capped:
            return
        for side, acc in self._accs.items():
            for k, t in acc.items():
                self._state[f"{side}_{k}"] += t.cpu().numpy()
                t.zero_()

    def state_dict(self):
        self._flush()
        self._sync()
        return super().state_dict()

    def load_state_dict(self, state):
        self._flush()
        self._sync()
        super().load_state_dict(state)
        self._accs = None

    def merge(self, other: "FVD") -> "FVD":
        for m in (self, other):
            m._flush()
            m._sync()
        super().merge(other)
        self._accs = None
        if self.capped:
            for side in self._sides:
                self._prune(side)
        return self

    def _prune(self, side: str) -> None:
        """Keep the max_clips clips with the smallest content hashes (order- and shard-independent)."""
        keys, feats = self._state[f"{side}_keys"], self._state[f"{side}_feats"]
        cap = int(self.settings["max_clips"])
        if keys.shape[0] > cap:
            keep = np.sort(np.argsort(keys, kind="stable")[:cap])
            self._state[f"{side}_keys"], self._state[f"{side}_feats"] = keys[keep], feats[keep]

    # --- features -------------------------------------------------------------------------------------
    def _feature_settings(self, side: str) -> dict:
        s = {k: self.settings[k] for k in _FEATURE_KEYS}
        s["clips"] = self.settings[f"{side}_clips"]
        s["extractor"] = self.extractor_info().get("tensors_sha256", "custom")
        return s

    def extractor_info(self) -> dict:
        if self._extractor is not None:
            return dict(getattr(self._extractor, "info", {"name": type(self._extractor).__name__}))
        from evalkit.weights.i3d import SPEC

        return {"name": SPEC.name, "version": SPEC.version,
                "source": f"{SPEC.source.package}=={SPEC.source.version} ({SPEC.source.filename})",
                "archive_sha256": SPEC.source.sha256, "member": SPEC.member, "member_sha256": SPEC.member_sha256,
                "tensors_sha256": SPEC.tensors_sha256}

    def prepare(self) -> None:
        self._get_extractor()

    def _get_extractor(self):
        if self._extractor is None:
            from evalkit.features.i3d import I3DFeatures

            self._extractor = I3DFeatures(self.device, self.settings["precision"], compile=self.settings["compile"],
                                          cudnn_benchmark=bool(self.settings["cudnn_benchmark"]))
        return self._extractor

    def _cache(self, side: str):
        if not self.settings["cache"]:
            return None
        from evalkit.features.cache import FeatureCache

        info = self.extractor_info()
        if "tensors_sha256" not in info:
            return None  # custom extractors are not cached
        return FeatureCache(info["tensors_sha256"], self._feature_settings(side))

    def plan(self, side: str, num_frames: int, content_id: str) -> list[Clip]:
        s = self.settings
        return plan_clips(num_frames, s[f"{side}_clips"], int(s["clip_len"]), int(s["stride"]), content_id,
                          int(s["min_frames"]))

    def add_video(self, side: str, frames, content_id: str, shape: tuple[int, int, int] | None = None,
                  prepared: torch.Tensor | None = None) -> int:
        """Queue one video's clips (uint8 frames (T, H, W, 3), or already prepared (T, 3, 224, 224)
        floats); returns its number of clips (0: too short, counted)."""
        shape = shape or tuple(int(v) for v in frames.shape[:3])
        clips = self.plan(side, shape[0], content_id)
        if not clips:
            self._state[f"{side}_videos"] += 1
            self._state[f"{side}_short"] += 1
            return 0
        cache = self._cache(side)
        entry = cache.get(content_id, shape) if cache else None
        if entry is not None:
            return self.add_cached(side, entry)
        self._state[f"{side}_videos"] += 1
        self._pending.append((side, frames, prepared, clips, content_id, shape, cache))
        self._pending_clips += len(clips)
        # on a GPU a flush launches several batches before it waits for their features
        per_flush = 4 if torch.device(self.device).type == "cuda" else 1
        if self._pending_clips >= per_flush * int(self.settings["batch_size"]):
            self._launch()
            self._collect(keep=1)  # the batches just launched run while the caller decodes the next videos
        return len(clips)

    def add_cached(self, side: str, entry: dict) -> int:
        """Add one video's cached clip features (a :class:`FeatureCache` entry)."""
        self._state[f"{side}_videos"] += 1
        self._state[f"{side}_cached"] += 1
        self.add_features(side, np.asarray(entry["feats"]), np.asarray(entry["seeds"]))
        return int(len(entry["seeds"]))

    def _flush(self) -> None:
        """Run I3D on every queued clip and add all features to the statistics (before any state is read)."""
        self._launch()
        self._collect(keep=0)

    def _collect(self, keep: int) -> None:
        """Read back launched batches, oldest first (so features are added in queue order: identical sums),
        leaving the newest ``keep`` launches running."""
        while len(self._inflight) > keep:
            jobs, done, outputs = self._inflight.pop(0)
            for positions, feats in done:
                for (j, c), f in zip(positions, feats.cpu().numpy()):
                    outputs[j][c] = f
            for (side, _f, _p, clips, content_id, shape, cache), feats in zip(jobs, outputs):
                seeds = np.array([c.seed for c in clips], dtype=np.int64)
                self.add_features(side, feats, seeds)
                if cache is not None:
                    cache.put(content_id, feats, [c.start for c in clips], [c.length for c in clips], seeds, shape)

    def _launch(self) -> None:
        """Launch I3D on every queued clip, batch by batch, without waiting for the features.

        On a GPU the host prepares batch k+1 while batch k runs, and receives the next videos while the last
        launch runs. Clips are stacked from channels-last frames, so a batch is NDHWC in memory without a
        transpose."""
        if not self._pending:
            return
        from evalkit.features.resize import prepare_frames

        jobs, self._pending, self._pending_clips = self._pending, [], 0
        extractor, bs = self._get_extractor(), int(self.settings["batch_size"])
        dtype = getattr(extractor, "dtype", torch.float32)
        outputs = [np.empty((len(job[3]), self._dim), np.float32) for job in jobs]
        batch, where, done = [], [], []

        def run():
            if batch:
                x = torch.stack(batch).permute(0, 4, 1, 2, 3)  # (B, T, H, W, 3) -> (B, 3, T, H, W)
                done.append((list(where), extractor(x)))
                batch.clear()
                where.clear()

        for j, (side, frames, prepared, clips, *_rest) in enumerate(jobs):
            first = min(c.start for c in clips)  # resize only the frames some clip uses
            last = max(c.start + c.length for c in clips)
            if prepared is not None:
                x = prepared[first:last].to(self.device, dtype, non_blocking=True)
            else:
                x = prepare_frames(frames[first:last], self.settings["resize"], self.device, dtype=dtype)
            x = x.permute(0, 2, 3, 1)  # (T, H, W, 3)
            for c, clip in enumerate(clips):
                if batch and (len(batch) >= bs or batch[0].shape[0] != clip.length):
                    run()
                batch.append(x[clip.start - first:clip.start - first + clip.length])
                where.append((j, c))
        run()
        self._inflight.append((jobs, done, outputs))

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
            self._prune(side)
            return
        acc = self._accumulators()[side]
        dev = acc["sum"].device
        f = torch.from_numpy(feats).to(dev)
        w = torch.from_numpy(poisson_weights(seeds, int(self.settings["bootstrap"]))).to(dev)
        _accumulate(acc, f, w, _triu(self._dim, dev))

    # --- metric API -----------------------------------------------------------------------------------
    def update(self, item) -> dict[str, float]:
        from evalkit.features.cache import file_digest, frames_digest

        row = {}
        for side in self._sides:
            video = item.pred if side == "pred" else item.gt
            if video is None:
                raise EvalkitError("FVD needs the ground-truth video of every item", path=item.pred.path,
                                   hint="pair it with a gt video, or pass --gt-stats FILE")
            content_id = file_digest(video.path) if video.path else None
            content_id = content_id or frames_digest(video.frames)
            row[f"fvd_clips_{side}"] = float(self.add_video(side, video.frames, content_id))
        return row

    def side_sums(self, side: str) -> dict[str, np.ndarray]:
        """n, sum, outer, boot_n, boot_sum, boot_outer of one side (float64 numpy)."""
        if side == "gt" and self._fixed_gt is not None:
            return {k: self._fixed_gt[k] for k in self._LEAVES}
        self._flush()
        self._sync()
        if not self.capped:
            return {k: self._state[f"{side}_{k}"].copy() for k in self._LEAVES}
        d, b = self._dim, int(self.settings["bootstrap"])
        acc = {"n": torch.zeros((), dtype=torch.float64), "sum": torch.zeros(d, dtype=torch.float64),
               "outer": torch.zeros(d, d, dtype=torch.float64), "boot_n": torch.zeros(b, dtype=torch.float64),
               "boot_sum": torch.zeros(b, d, dtype=torch.float64),
               "boot_outer": torch.zeros(b, d * (d + 1) // 2, dtype=torch.float64)}
        keys = self._state[f"{side}_keys"].astype(np.int64)
        feats = torch.from_numpy(self._state[f"{side}_feats"])
        if len(keys):
            _accumulate(acc, feats, torch.from_numpy(poisson_weights(keys, b)), _triu(d, "cpu"))
        return {k: v.numpy() for k, v in acc.items()}

    def num_clips(self, side: str) -> int:
        if side == "gt" and self._fixed_gt is not None:
            return int(self._fixed_gt["n"])
        self._flush()
        self._sync()
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
            stats = {}
            for side in SIDES:
                s = sums[side]
                mu = s["sum"] / n[side]
                stats[side] = (mu, ((s["outer"] - n[side] * np.outer(mu, mu)) / (n[side] - ddof)))
            fd = frechet_distance(*stats["pred"], *stats["gt"], method=method)
            out["fvd"] = fd["fd"]
            fds = self._bootstrap(sums, ddof)
            out["fvd_ci_low"], out["fvd_ci_high"] = bootstrap_interval(out["fvd"], fds)
            self._last.update(bootstrap_valid=len(fds), bootstrap_fds=fds)
            self._last["terms"] = {k: fd[k] for k in ("mean_term", "trace_term", "sqrtm_imag")}
        else:
            self._last["warnings"].append(
                f"FVD undefined: needs more than {ddof} clip(s) per side (pred {int(n['pred'])}, gt {int(n['gt'])})")
        if min(n.values()) < SMALL_N:
            self._last["warnings"].append(
                f"FVD on few clips (pred {int(n['pred'])}, gt {int(n['gt'])} < {SMALL_N}): biased upward and "
                "unstable; compare only at equal N, see the bootstrap interval")
        for msg in self._last["warnings"]:
            warnings.warn(msg, stacklevel=2)
        return out

    def counts(self) -> dict[str, int]:
        """Clips and videos per side: scored, too short (no clip; never dropped silently), from the cache."""
        out = {}
        for side in SIDES:
            c = self.side_counts(side)
            out[f"clips_{side}"] = self.num_clips(side)
            out[f"videos_{side}"] = int(c["videos"])
            out[f"videos_short_{side}"] = int(c["short"])
            out[f"videos_cached_{side}"] = int(c["cached"])
        out["bootstrap_valid"] = int(self._last.get("bootstrap_valid", 0))
        return out

    def __deepcopy__(self, memo):  # the network and fixed gt statistics are shared, never copied
        import copy

        self._flush()
        self._sync()
        clone = type(self).__new__(type(self))
        for key, value in self.__dict__.items():
            shared = key in ("_extractor", "_fixed_gt")
            clone.__dict__[key] = value if shared else (None if key == "_accs" else copy.deepcopy(value, memo))
        return clone

    def _bootstrap(self, sums: dict, ddof: int, chunk: int = 20) -> np.ndarray:
        """The FDs of the valid bootstrap replicates (both sides with more than ddof clips)."""
        b = int(self.settings["bootstrap"])
        if b == 0:
            return np.zeros(0)
        bn = {s: sums[s]["boot_n"] for s in SIDES}
        ok = (bn["pred"] > ddof) & (bn["gt"] > ddof)
        idx = np.flatnonzero(ok)
        fds = []
        # on the metric's GPU when it has one: the sums go there packed (half the bytes), and the (B, D, D)
        # covariances are built there too (elementwise, so the same values as on the CPU)
        dev = torch.device(self.device) if torch.device(self.device).type == "cuda" else torch.device("cpu")
        for start in range(0, len(idx), chunk):
            sel = idx[start:start + chunk]
            mus, sigmas = [], []
            for s in SIDES:
                nn_ = torch.as_tensor(bn[s][sel], device=dev)[:, None]
                mu = torch.as_tensor(sums[s]["boot_sum"][sel], device=dev) / nn_
                outer = _unpack(torch.as_tensor(sums[s]["boot_outer"][sel], device=dev), self._dim)
                sigma = (outer - nn_[..., None] * mu[:, :, None] * mu[:, None, :]) / (nn_[..., None] - ddof)
                mus.append(mu)
                sigmas.append(sigma)
            fds.append(frechet_distance_batched(mus[0], sigmas[0], mus[1], sigmas[1], device=dev))
        return np.concatenate(fds) if fds else np.zeros(0)

    def identity(self) -> dict:
        ident = super().identity()
        s = self.settings
        reference_mode = s["precision"] == "fp32" and self._extractor_is_i3d()
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
                          "interval": INTERVAL_METHOD, "sqrt": "eigh"},
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

    def _extractor_is_i3d(self) -> bool:
        from evalkit.features.i3d import I3DFeatures

        return self._extractor is None or isinstance(self._extractor, I3DFeatures)


# --- reference statistics files ------------------------------------------------------------------------
def save_stats(path: str | Path, metric: FVD, side: str = "gt", source: dict | None = None) -> Path:
    """Write one side's running sums (+ mean/covariance for other tools) and the protocol as .npz."""
    path = Path(path)
    sums = metric.side_sums(side)
    n = float(sums["n"])
    ddof = int(metric.settings["ddof"])
    mu = sums["sum"] / n if n else np.zeros(metric._dim)
    sigma = (sums["outer"] - n * np.outer(mu, mu)) / (n - ddof) if n > ddof else np.full_like(sums["outer"], np.nan)
    meta = {
        "format": STATS_FORMAT,
        "protocol": metric.preset,
        "side": side,
        "features": metric._feature_settings(side),
        "bootstrap": int(metric.settings["bootstrap"]),
        "ddof": ddof,
        "weights": metric.extractor_info(),
        "counts": metric.side_counts(side),
        "source": source or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), mu=mu, sigma=sigma, **sums)
    tmp.replace(path)
    return path


def load_stats(path: str | Path, metric: FVD) -> dict:
    """Read a stats file written by ``evalkit stats make`` and check it matches ``metric``'s protocol."""
    path = Path(path)
    if not path.is_file():
        raise EvalkitError("no such statistics file", path=path,
                           hint="make one with: evalkit stats make DIR --out FILE")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data["meta"]))
    except Exception as err:
        raise EvalkitError(f"not an FVD statistics file ({type(err).__name__})", path=path,
                           hint="make one with: evalkit stats make DIR --out FILE") from None
    if meta.get("format") != STATS_FORMAT:
        raise EvalkitError(f"unknown statistics format {meta.get('format')!r}", path=path, hint="remake it")
    want = metric._feature_settings("gt")
    if meta["features"] != want:
        diff = sorted(k for k in set(want) | set(meta["features"]) if want.get(k) != meta["features"].get(k))
        raise EvalkitError(f"made with other FVD settings ({', '.join(diff)}; protocol '{meta['protocol']}')",
                           path=path, hint=f"remake it with --protocol {metric.preset} or score with its protocol")
    if meta["bootstrap"] != int(metric.settings["bootstrap"]):
        raise EvalkitError(f"has {meta['bootstrap']} bootstrap replicates, the metric uses "
                           f"{metric.settings['bootstrap']}", path=path, hint="use the same --bootstrap")
    out = {k: np.asarray(data[k], dtype=np.float64) for k in FVD._LEAVES}
    out["meta"] = meta
    return out
