"""pytorch-fid's InceptionV3 (the FID network of TF's ``inception-2015-12-05``), built from the pytorch_fid
package's own classes and fed a weights file the user has; evalkit never downloads it.

The package builds its network in ``InceptionV3.__init__`` and fetches the weights there with
``load_state_dict_from_url`` (a pickle load that may execute code, and a download). evalkit loads the file
itself with ``torch.load(weights_only=True)`` and hands that state dict to the package's builder in place
of the fetch, so network, resize (bilinear to 299, align_corners=False, no antialias) and input scaling
(2x − 1 of [0, 1]) are the package's code, not a copy.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from evalkit.errors import EvalkitError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
OFFICIAL_SHA256_PREFIX = "6726825d"  # torch hub names a file by its sha256 prefix
DIMS = (64, 192, 768, 2048)
BATCH = 32
_LOCK = threading.Lock()
_NETS: dict[tuple, "InceptionFeatures"] = {}


def hub_weights_path() -> Path:
    """Where pytorch-fid itself looks for the weights: ``<torch hub dir>/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def resolve_weights(path: str | Path | None) -> Path:
    where = Path(path).expanduser() if path else hub_weights_path()
    if not where.is_file():
        raise EvalkitError(f"pytorch-fid Inception weights not found at {where}",
                           hint=f"put {WEIGHTS_FILE} (pytorch-fid's FID_WEIGHTS_URL) at {hub_weights_path()} "
                                "or pass --opt fid.weights=PATH; evalkit never downloads it")
    return where


def load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise EvalkitError(f"cannot read as a tensors-only torch file ({type(err).__name__})", path=path,
                           hint=f"use pytorch-fid's {WEIGHTS_FILE}") from None
    if not isinstance(state, dict):
        raise EvalkitError(f"expected a state dict, found {type(state).__name__}", path=path)
    return state


@contextmanager
def _weights_from(state: dict):
    """The package's weight fetch answered with ``state`` while its builder runs (module attribute, so
    under a lock: two builders at once must not see each other's weights)."""
    import pytorch_fid.inception as pfi

    with _LOCK:
        original = pfi.load_state_dict_from_url
        pfi.load_state_dict_from_url = lambda *args, **kwargs: state
        try:
            yield pfi
        finally:
            pfi.load_state_dict_from_url = original


class InceptionFeatures:
    """Per-frame pytorch-fid features: (T, H, W, 3) uint8 RGB → (T, dims) float32 torch (on the device)."""

    def __init__(self, weights: Path, dims: int, device: str = "cpu"):
        from evalkit.weights.registry import sha256_file

        if dims not in DIMS:
            raise EvalkitError(f"fid dims must be one of {', '.join(map(str, DIMS))}, got {dims}",
                               hint="64/192/768 are pytorch-fid's earlier blocks; 2048 is pool3 (FID)")
        state = load_state(weights)
        with _weights_from(state) as pfi:
            try:
                net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
            except RuntimeError as err:  # load_state_dict: missing/unexpected keys or shapes
                raise EvalkitError(f"not pytorch-fid Inception weights ({str(err).splitlines()[0]})",
                                   path=weights, hint=f"use {WEIGHTS_FILE}") from None
        self.net = net.eval().to(device)
        self.dims, self.device = dims, device
        self.sha256 = sha256_file(weights)
        self.info = {"file": str(weights), "sha256": self.sha256,
                     "official": self.sha256.startswith(OFFICIAL_SHA256_PREFIX)}

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        out = []
        for start in range(0, len(frames), BATCH):
            x = torch.from_numpy(np.ascontiguousarray(frames[start:start + BATCH])).to(self.device)
            x = x.permute(0, 3, 1, 2).float().div(255)  # torchvision ToTensor, as pytorch-fid's loader
            feats = self.net(x)[0]
            if feats.shape[2:] != (1, 1):  # blocks 0-2: spatial maps, averaged as pytorch-fid does
                feats = torch.nn.functional.adaptive_avg_pool2d(feats, output_size=(1, 1))
            out.append(feats.flatten(1))
        return torch.cat(out) if out else torch.zeros((0, self.dims), device=self.device)


def inception_features(weights: str | Path | None, dims: int, device: str = "cpu") -> InceptionFeatures:
    """One network per (weights file, dims, device) per process."""
    path = resolve_weights(weights)
    key = (str(path.resolve()), path.stat().st_mtime_ns, dims, str(device))
    if key not in _NETS:
        _NETS[key] = InceptionFeatures(path, dims, device)
    return _NETS[key]
