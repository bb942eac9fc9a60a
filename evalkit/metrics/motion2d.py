"""FID_k2d, FID_g2d, Div_k2d: Bailando's motion-distribution metrics on the 2D joints of videos (evalkit's
definition, docs/motion-metrics.md "2D variants").

Each video's COCO-17 pose track (evalkit.pose, as 2D-BeatAlign) becomes one kinetic (51-d) or geometric
(20-d) feature vector (evalkit.motion.features_2d); the generated and ground-truth sets are normalised with
the ground truth's mean and std and compared as Bailando compares its 3D features (evalkit.motion.metrics):
Fréchet distance (eigh route, evalkit.metrics.frechet), and the mean pairwise distance of the generated set beside the ground truth's. Per-video
feature vectors are the state ('cat'), so shards merge exactly. Videos without a usable person (every joint
seen at least once) are left out and counted.
"""
from __future__ import annotations

import warnings

import numpy as np

from evalkit.metrics.base import Metric
from evalkit.motion.features_2d import GEOMETRIC_DIMS, KINETIC_DIMS

SIDES = ("pred", "gt")
_POSE = {"conf_thresh": 0.3, "pose": "blazepose"}


class _Motion2D(Metric):
    """One feature family over the pred and gt videos' pose tracks."""

    family = "kinetic"
    fid = True  # a Fréchet distance (covariances): warn about sets smaller than the feature dimension
    needs = ("pred", "gt")
    higher_is_better = False

    option_prefixes = {"pose_": "settings of the pose backend (checked against its constructor)"}

    def __init__(self, preset: str | None = None, device: str = "cpu", **overrides):
        pose_settings = {}  # ``--opt fid_k2d.pose_model=PATH``; as BeatAlign, they change the joints: settings
        for key in [k for k in overrides if k.startswith("pose_")]:
            pose_settings[key[len("pose_"):]] = overrides.pop(key)
        self.pose_info: dict = {}
        self._last: dict = {}
        super().__init__(preset, device, **overrides)
        self.settings["pose_settings"] = pose_settings

    @property
    def dims(self) -> int:
        return KINETIC_DIMS if self.family == "kinetic" else GEOMETRIC_DIMS

    def reset(self) -> None:
        for side in SIDES:
            self.add_state(f"{side}_feats", np.zeros((0, self.dims)), reduce="cat")
            self.add_state(f"{side}_unusable", 0.0)
            self.add_state(f"{side}_frames_no_person", 0.0)

    def add_track(self, side: str, track) -> dict[str, float]:
        from evalkit.motion.features_2d import features_2d

        f = features_2d(track, self.settings["conf_thresh"])
        vec = f.kinetic if self.family == "kinetic" else f.geometric
        st = self._state
        st[f"{side}_frames_no_person"] += f.counts["frames_no_person"]
        if np.isfinite(vec).all():
            st[f"{side}_feats"] = np.concatenate([st[f"{side}_feats"], vec[None]])
        else:
            st[f"{side}_unusable"] += 1
        return {f"{self.name}_frames_no_person_{side}": float(f.counts["frames_no_person"]),
                f"{self.name}_usable_{side}": float(np.isfinite(vec).all())}

    def update(self, item) -> dict[str, float]:
        from evalkit.errors import EvalkitError
        from evalkit.pose import extract

        if item.gt is None:
            raise EvalkitError(f"{self.name} needs the ground-truth video of every item", path=item.pred.path,
                               hint="pass --gt DIR")
        row = {}
        for side, video in (("pred", item.pred), ("gt", item.gt)):
            track = extract(video, backend=self.settings["pose"], **self.settings["pose_settings"])
            self.pose_info = dict(track.info)
            row.update(self.add_track(side, track))
        return row

    def _normalised(self) -> tuple[np.ndarray, np.ndarray] | None:
        from evalkit.motion.metrics import MIN_STD_2D, normalize_by_gt

        pred, gt = self._state["pred_feats"], self._state["gt_feats"]
        self._last = {"n": {"pred": len(pred), "gt": len(gt)}, "warnings": []}
        if min(len(pred), len(gt)) < 2:
            self._last["warnings"].append(f"{self.name} undefined: needs at least 2 usable videos per side "
                                          f"(pred {len(pred)}, gt {len(gt)})")
            return None
        if self.fid and min(len(pred), len(gt)) <= self.dims:
            self._last["warnings"].append(
                f"{self.name} on {len(pred)} / {len(gt)} videos for {self.dims} feature dimensions: singular "
                "covariances; compare only at equal set sizes")
        g, p = normalize_by_gt(gt, pred, MIN_STD_2D)
        return p, g

    def _warn(self) -> None:
        for msg in self._last["warnings"]:
            warnings.warn(msg, stacklevel=3)

    def counts(self) -> dict[str, int]:
        return {**{f"videos_{s}": int(len(self._state[f"{s}_feats"])) for s in SIDES},
                **{f"videos_unusable_{s}": int(self._state[f"{s}_unusable"]) for s in SIDES},
                **{f"frames_no_person_{s}": int(self._state[f"{s}_frames_no_person"]) for s in SIDES}}

    def identity(self) -> dict:
        ident = super().identity()
        ident.update({"features": f"{self.family} 2D ({self.dims}-d), evalkit.motion.features_2d",
                      "normalisation": "ground truth's mean and population std (+1e-10)",
                      "pose": {k: v for k, v in self.pose_info.items() if k not in ("video_sha256", "frames",
                                                                                    "frames_with_person")},
                      "N": dict(self._last.get("n", {})), "warnings": list(self._last.get("warnings", []))})
        return ident


class FIDK2D(_Motion2D):
    name = "fid_k2d"
    family = "kinetic"
    reference = "evalkit 2D variant of Bailando FID_k (docs/motion-metrics.md)"
    presets = {"evalkit": dict(_POSE)}

    def compute(self) -> dict[str, float]:
        from evalkit.motion.metrics import frechet_eigh

        sets = self._normalised()
        value = frechet_eigh(*sets) if sets else float("nan")
        self._warn()
        return {self.name: value}


class FIDG2D(FIDK2D):
    name = "fid_g2d"
    family = "geometric"
    reference = "evalkit 2D variant of Bailando FID_g (docs/motion-metrics.md)"


class DivK2D(_Motion2D):
    name = "div_k2d"
    family = "kinetic"
    fid = False
    higher_is_better = True
    reference = "evalkit 2D variant of Bailando Div_k (docs/motion-metrics.md)"
    presets = {"evalkit": dict(_POSE)}

    def compute(self) -> dict[str, float]:
        from evalkit.motion.metrics import diversity

        sets = self._normalised()
        self._warn()
        if not sets:
            return {self.name: float("nan"), f"{self.name}_gt": float("nan")}
        return {self.name: diversity(sets[0], self.name), f"{self.name}_gt": diversity(sets[1], self.name)}
