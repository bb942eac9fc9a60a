"""Frame FID as the DisCo family of human-animation papers reports it (pytorch-fid).

Preset ``pytorch-fid`` (docs/fid.md): every frame of every generated video is one image, every
frame of every ground-truth video another; pytorch-fid's InceptionV3 (``evalkit.features.inception``: the
package's network, resize and scaling, weights the user has, loaded tensors-only and pinned by sha256 in the
identity), its pool3 2048-d features (``dims`` 64/192/768 select its earlier blocks), mean and covariance
(N−1) per side, and the Fréchet distance as ``pytorch_fid.fid_score.calculate_frechet_distance`` computes it:
``scipy.linalg.sqrtm(Σ₁Σ₂)``, 1e−6 diagonal retry when not finite, real part, undefined when the root's
diagonal has an imaginary part beyond 1e−3 (evalkit.metrics.frechet, route ``scipy``). Not the function
itself: it passes ``disp=False`` to sqrtm, which SciPy 1.18 removed (pytorch-fid 0.3.0 fails there).

Features are streamed into float64 sums (n, Σx, Σxxᵀ) per side, so shards and ranks merge exactly. No
interval: a bootstrap would keep every frame's 2048-d feature (or 2048² sums per replicate); the frame
count N is reported and a small N warned about instead.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from evalkit.errors import EvalkitError
from evalkit.metrics.base import Metric
from evalkit.metrics.frechet import warn_small_n

SIDES = ("pred", "gt")
IMAG_TOL = 1e-3  # pytorch-fid's atol on the root's imaginary diagonal
SMALL_N = 2048  # fewer frames than feature dimensions: singular covariances, FID biased upward


class FID(Metric):
    name = "fid"
    higher_is_better = False
    needs = ("pred", "gt")
    reference = "pytorch-fid 0.3.0 (InceptionV3 FID weights pt_inception-2015-12-05, pool3, calculate_frechet_distance)"
    presets = {"pytorch-fid": {"dims": 2048, "weights": None}}
    option_types = {"weights": str}
    shared = ("_net",)  # clones (scoring workers' fresh states) use the loaded network, never a copy

    def __init__(self, preset: str | None = None, device: str = "cpu", **overrides):
        super().__init__(preset, device, **overrides)
        from evalkit.features.inception import DIMS

        if self.settings["dims"] not in DIMS:
            raise EvalkitError(f"fid dims must be one of {', '.join(map(str, DIMS))}, got {self.settings['dims']}",
                               hint="--opt fid.dims=2048 (pool3, FID) or 64/192/768 (pytorch-fid's earlier blocks)")
        self._net = None
        self._last: dict = {}

    def reset(self) -> None:
        d = int(self.settings["dims"])
        for side in SIDES:
            self.add_state(f"{side}_n", 0.0)
            self.add_state(f"{side}_sum", np.zeros(d))
            self.add_state(f"{side}_outer", np.zeros((d, d)))

    def prepare(self) -> None:
        self._network()

    def _network(self):
        from evalkit.features.inception import inception_features

        if self._net is None:
            self._net = inception_features(self.settings["weights"], int(self.settings["dims"]), self.device)
        return self._net

    def add_frames(self, side: str, frames: np.ndarray) -> int:
        """Add (T, H, W, 3) uint8 RGB frames to a side's sums (float64, on the metric's device)."""
        feats = self._network()(frames).double()
        st = self._state
        st[f"{side}_n"] = st[f"{side}_n"] + len(feats)
        st[f"{side}_sum"] = st[f"{side}_sum"] + feats.sum(0).cpu().numpy()
        st[f"{side}_outer"] = st[f"{side}_outer"] + (feats.T @ feats).cpu().numpy()
        return len(feats)

    def update(self, item) -> dict[str, float]:
        if item.gt is None:
            raise EvalkitError("FID needs the ground-truth video of every item", path=item.pred.path,
                               hint="pass --gt DIR")
        return {f"fid_frames_{side}": float(self.add_frames(side, (item.pred if side == "pred" else item.gt).frames))
                for side in SIDES}

    def statistics(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        from evalkit.metrics.frechet import moments_from_sums

        st = self._state
        return moments_from_sums(st[f"{side}_n"], st[f"{side}_sum"], st[f"{side}_outer"], ddof=1)

    def compute(self) -> dict[str, float]:
        from evalkit.metrics.frechet import frechet_distance

        n = {side: int(self._state[f"{side}_n"]) for side in SIDES}
        self._last = {"n": n, "warnings": []}
        value = float("nan")
        if min(n.values()) < 2:
            self._last["warnings"].append(f"FID undefined: needs at least 2 frames per side (pred {n['pred']}, "
                                          f"gt {n['gt']})")
        else:
            with warnings.catch_warnings():  # scipy's note on a singular product's root
                warnings.simplefilter("ignore")
                fd = frechet_distance(*self.statistics("pred"), *self.statistics("gt"), method="scipy")
            self._last["sqrtm_imag"] = fd["sqrtm_imag"]
            if fd["sqrtm_imag"] > IMAG_TOL:  # where pytorch-fid raises 'Imaginary component'
                self._last["warnings"].append(f"FID undefined: the square root's diagonal has imaginary parts up to "
                                              f"{fd['sqrtm_imag']:.3g} > {IMAG_TOL} (pytorch-fid refuses it)")
            else:
                value = fd["fd"]
        warn_small_n(self._last["warnings"], "FID", "frames", n, SMALL_N,
                     "singular covariances, biased upward; compare only at equal N", bound=", the feature dimension")
        return {"fid": value}

    def counts(self) -> dict[str, int]:
        return {f"frames_{side}": int(self._state[f"{side}_n"]) for side in SIDES}

    def identity(self) -> dict:
        import pytorch_fid
        import scipy

        ident = super().identity()
        net = self._network()
        ident.update({
            "weights": dict(net.info), "resize": "bilinear to 299x299 (align_corners=False), pytorch-fid's model",
            "scaling": "[0, 1] then 2x-1", "features": f"{net.dims}-d (block {'pool3' if net.dims == 2048 else net.dims})",
            "covariance": "N-1", "sqrt": "scipy.linalg.sqrtm (pytorch-fid's calculate_frechet_distance)",
            "sqrtm_imag": self._last.get("sqrtm_imag"),
            "N": dict(self._last.get("n", {})), "warnings": list(self._last.get("warnings", [])),
            "versions": {"pytorch-fid": pytorch_fid.__version__, "torch": torch.__version__, "scipy": scipy.__version__},
        })
        return ident
