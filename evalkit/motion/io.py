"""Motion files: ``.npy`` (T, 24, 3) SMPL-24 joint positions in metres, or motion pickles (AIST++, SDGPip,
EDGE, Bailando) read with the numpy-only unpickler, so a motion file can never run code.

Every loader returns float64 joints, y up (the Bailando / AIST++ convention the feature code assumes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

SUFFIXES = (".npy", ".pkl")
# joints stored directly, by the writers that store them: SDGPip, EDGE, Bailando (T, 72)
_JOINT_KEYS = ("smpl_joints", "full_pose", "pred_position", "joints3d", "joints")


@dataclass
class MotionSeq:
    name: str
    path: Path
    joints: np.ndarray  # (T, 24, 3) float64, metres, y up
    source: str = "joints"  # or how joints were obtained (forward kinematics of SMPL parameters)
    info: dict = field(default_factory=dict)


def to_y_up(joints: np.ndarray, up: str) -> np.ndarray:
    """z-up (EDGE) → y-up: (x, y, z) → (x, z, −y), the inverse of EDGE's +90° turn about x."""
    if up == "y":
        return joints
    if up == "z":
        return np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1)
    raise EvalkitError(f"--up must be 'y' or 'z', got {up!r}")


def _from_pickle(path: Path) -> tuple[np.ndarray, str]:
    from evalkit.data.aist import load_pickle  # the numpy-only unpickler, one-line errors

    data = load_pickle(path)
    for key in _JOINT_KEYS:
        if key in data:
            return np.asarray(data[key], dtype=np.float64), key
    if "smpl_poses" in data and "smpl_trans" in data:
        return _forward_kinematics(data, path), "forward kinematics of smpl_poses on evalkit's rest skeleton"
    raise EvalkitError(f"holds no joint positions (keys: {sorted(map(str, data))})", path=path,
                       hint=f"store (T, 24, 3) joints under one of {', '.join(_JOINT_KEYS)}, or .npy")


def _forward_kinematics(data: dict, path: Path) -> np.ndarray:
    """AIST++ motions hold SMPL parameters only: joints by forward kinematics on evalkit's rest skeleton
    (its bone lengths, not the SMPL body model's, which evalkit does not ship), translation in metres as
    smpl_trans / smpl_scaling. Recorded as the joints' source, since the numbers then differ slightly."""
    from evalkit.data.synth.motion import forward_kinematics, offsets_of, rotvec_to_matrices
    from evalkit.data.synth.skeleton import t_pose

    poses = np.asarray(data["smpl_poses"], dtype=np.float64)
    trans = np.asarray(data["smpl_trans"], dtype=np.float64)
    scale = float(np.asarray(data.get("smpl_scaling", 1.0), dtype=np.float64).reshape(-1)[0])
    if poses.ndim != 2 or poses.shape[1] != 72 or trans.shape != (len(poses), 3):
        raise EvalkitError(f"smpl_poses {poses.shape} / smpl_trans {trans.shape} are not (T, 72) / (T, 3)", path=path)
    return forward_kinematics(rotvec_to_matrices(poses.reshape(-1, 24, 3)), trans / scale, offsets_of(t_pose()))


def load_motion(path: str | Path, up: str = "y", min_frames: int = 4) -> MotionSeq:
    """One motion as float64 (T, 24, 3) joints, y up; a wrong shape or non-finite joints is an error."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            joints, source = np.load(path, allow_pickle=False).astype(np.float64), "joints"
        except Exception as err:
            raise EvalkitError(f"cannot read as a numpy array ({type(err).__name__})", path=path,
                               hint="save joints with numpy.save, (T, 24, 3) float") from None
    elif path.suffix == ".pkl":
        joints, source = _from_pickle(path)
    else:
        raise EvalkitError("unsupported motion file", path=path, hint="use .npy (T, 24, 3) joints or a motion .pkl")
    if joints.ndim == 2 and joints.shape[1] == 72:  # Bailando's (T, 72) layout
        joints = joints.reshape(len(joints), 24, 3)
    if joints.ndim != 3 or joints.shape[1:] != (24, 3):
        raise EvalkitError(f"joints have shape {joints.shape}, expected (T, 24, 3)", path=path,
                           hint="pass SMPL-24 joint positions in metres, one sequence per file")
    if len(joints) < min_frames:
        raise EvalkitError(f"has {len(joints)} frames; the motion features need at least {min_frames}", path=path)
    bad = ~np.isfinite(joints)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise EvalkitError(f"{int(bad.any(axis=(1, 2)).sum())} frame(s) have NaN/inf joints (first: frame {frame})",
                           path=path, hint="fill or cut those frames before scoring")
    return MotionSeq(path.stem, path, to_y_up(joints, up), source)


def list_motions(folder: str | Path) -> list[Path]:
    """Motion files of a folder (or a single file), sorted by name, as the references stack them."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise EvalkitError("no such folder", path=folder, hint="pass a folder of .npy / .pkl motions")
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise EvalkitError("holds no .npy or .pkl motion files", path=folder)
    return files


def load_set(folder: str | Path, up: str = "y") -> list[MotionSeq]:
    return [load_motion(p, up) for p in list_motions(folder)]
