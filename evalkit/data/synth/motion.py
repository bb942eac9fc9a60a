"""Beat-synchronous choreography on the 24-joint SMPL skeleton, and motion from EDGE's SMPL output.

How the generator makes motion that is on the beat: every beat gets a key pose (a move from a small
library, chosen per bar, mirrored or not, its amplitude scaled by the music's onset strength at that
beat; with the bars' chords given, the chord picks the move, its side and the dancer's place — ``HARMONY`` —
so the music determines the dance up to the dancer's style, otherwise the dancer's random preferences do),
and the pose travels between consecutive key poses with an ease-in-out curve whose derivative is zero at
both ends. So every joint stops on every beat: the kinetic velocity (mean joint speed) has its
minima on the beats and its maxima between them, which is what BeatAlign measures.

Joint rotations are per joint (a, b, c) angles, matrix ``Rx(a) @ Ry(b) @ Rz(c)`` in the parent frame,
interpolated per channel; the stored SMPL poses are their axis-angle equivalents.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalkit.data.synth.skeleton import (
    FOOT_CLEARANCE,
    SMPL_PARENTS,
    J,
    rest_skeleton,
    t_pose,
)
from evalkit.errors import EvalkitError

PARENTS = np.array(SMPL_PARENTS)
LEFT_RIGHT = [(J["left_" + n], J["right_" + n]) for n in
              ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand")]
FEET = [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]]


@dataclass
class Motion:
    """A motion on the SMPL skeleton.

    joints: (T, 24, 3) joint positions, metres, y up, facing +z.
    poses: (T, 24, 3) axis-angle local rotations (SMPL order), or None when only positions are known.
    trans: (T, 3) root (pelvis) position, metres.
    """

    joints: np.ndarray
    fps: float
    poses: np.ndarray | None = None
    trans: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


# ---------------------------------------------------------------------------------------------- kinematics
def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    m[..., axis, axis] = 1.0
    m[..., i, i], m[..., j, j] = c, c
    sign = -1.0 if axis == 1 else 1.0  # Ry has the sine terms the other way round
    m[..., i, j], m[..., j, i] = -s * sign, s * sign
    return m


def channels_to_matrices(channels: np.ndarray) -> np.ndarray:
    """(..., 3) angles (a, b, c) → (..., 3, 3) = Rx(a) @ Ry(b) @ Rz(c)."""
    return _rot(0, channels[..., 0]) @ _rot(1, channels[..., 1]) @ _rot(2, channels[..., 2])


def rotvec_to_matrices(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues: (..., 3) axis-angle → (..., 3, 3)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    axis = rotvec / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(rotvec.shape[:-1] + (3, 3))
    a = angle[..., None]
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


def matrices_to_rotvec(mats: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices → (..., 3) axis-angle, via the quaternion (stable near 180°)."""
    m = np.asarray(mats, dtype=np.float64)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # four candidate quaternions (w, x, y, z); use, per matrix, the one with the largest pivot
    cands = np.stack([
        np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - tr, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - tr,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 + 2 * m[..., 2, 2] - tr], -1),
    ], axis=-2)
    pivot = np.stack([1 + tr, 1 + 2 * m[..., 0, 0] - tr, 1 + 2 * m[..., 1, 1] - tr, 1 + 2 * m[..., 2, 2] - tr], -1)
    q = np.take_along_axis(cands, pivot.argmax(-1)[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)  # w >= 0: angle in [0, π]
    sin_half = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2 * np.arctan2(sin_half, q[..., :1])
    scale = np.where(sin_half > 1e-12, angle / np.maximum(sin_half, 1e-300), 2.0)  # small angles: 2·v
    return q[..., 1:] * scale


def forward_kinematics(local: np.ndarray, root: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Joint positions (T, 24, 3) from local rotation matrices (T, 24, 3, 3), root positions (T, 3) and
    bone offsets (24, 3) of the rest T-pose (offset j = rest joint j − rest parent)."""
    T = local.shape[0]
    glob = np.empty_like(local)
    pos = np.empty((T, 24, 3))
    glob[:, 0], pos[:, 0] = local[:, 0], root
    for j in range(1, 24):
        p = PARENTS[j]
        glob[:, j] = glob[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
    return pos


def offsets_of(rest_joints: np.ndarray) -> np.ndarray:
    off = rest_joints - rest_joints[PARENTS.clip(0)]
    off[0] = 0.0
    return off


# ---------------------------------------------------------------------------------------------- dancer
@dataclass
class Dancer:
    """Body proportions and dancing style of one synthetic dancer (seeded)."""

    rest: np.ndarray  # (24, 3) T-pose joints, feet on the floor
    amplitude: float  # overall size of the moves
    sharpness: float  # easing exponent (>1): larger = snappier hits, longer holds on the beat
    groove: float  # knee bend of the neutral stance (rad)
    bounce: float  # extra knee bend on alternate beats (rad)
    lean: float  # forward lean of the torso (rad)
    arm_lift: float  # how high the arms rest (rad)
    move_weights: np.ndarray  # preference over MOVES

    @classmethod
    def random(cls, rng: np.random.Generator) -> Dancer:
        return cls(rest=rest_skeleton(rng), amplitude=float(rng.uniform(0.75, 1.15)),
                   sharpness=float(rng.uniform(1.6, 3.0)), groove=float(rng.uniform(0.05, 0.3)),
                   bounce=float(rng.uniform(0.1, 0.35)), lean=float(rng.uniform(-0.03, 0.12)),
                   arm_lift=float(rng.uniform(0.0, 0.25)),
                   move_weights=rng.dirichlet(np.full(len(MOVES), 0.8)))


def _neutral(d: Dancer) -> np.ndarray:
    """Channels (24, 3) of the dancer's relaxed stance: arms down by the sides, knees soft."""
    ch = np.zeros((24, 3))
    ch[J["left_shoulder"], 2] = -1.4 + d.arm_lift
    ch[J["right_shoulder"], 2] = 1.4 - d.arm_lift
    ch[J["left_elbow"], 1], ch[J["right_elbow"], 1] = -0.25, 0.25
    ch[J["left_hip"], 0] = ch[J["right_hip"], 0] = -d.groove
    ch[J["left_knee"], 0] = ch[J["right_knee"], 0] = 2 * d.groove
    ch[J["left_ankle"], 0] = ch[J["right_ankle"], 0] = -d.groove
    ch[J["spine1"], 0] = d.lean
    return ch


def mirror(ch: np.ndarray) -> np.ndarray:
    """Swap left and right: exchange paired joints and negate their b, c angles (and the spine's)."""
    out = ch.copy()
    for left, right in LEFT_RIGHT:
        out[left], out[right] = ch[right], ch[left]
    out[..., 1:] *= -1
    return out


# ---------------------------------------------------------------------------------------------- moves
# A move gives, for the beat's position p (0..3) in the bar, channel offsets from the neutral stance
# (24, 3) and a root offset (3,) in metres. Written for the left side; the bar may mirror it.
def _delta() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((24, 3)), np.zeros(3)


def _arm(ch, side: str, raise_: float = 0.0, forward: float = 0.0, elbow: float = 0.0, swing: float = 0.0):
    """Left-side arm channels: raise_ (up in the frontal plane), forward (pitch forward), elbow flexion,
    swing (horizontal, toward the front)."""
    s, e = J[side + "_shoulder"], J[side + "_elbow"]
    k = 1.0 if side == "left" else -1.0
    ch[s, 2] += k * raise_
    ch[s, 0] -= forward
    ch[s, 1] -= k * swing
    ch[e, 1] -= k * elbow


def move_arm_pump(p):
    ch, root = _delta()
    up, down = ("left", "right") if p % 2 == 0 else ("right", "left")
    _arm(ch, up, raise_=2.0, elbow=0.5)
    _arm(ch, down, raise_=0.2, elbow=1.1, forward=0.4)
    return ch, root


def move_side_step(p):
    ch, root = _delta()
    k = 1.0 if p % 2 == 0 else -1.0
    root[0] = 0.12 * k
    ch[J["left_hip"] if k > 0 else J["right_hip"], 2] = 0.25 * k
    ch[J["spine2"], 2] = -0.08 * k
    _arm(ch, "left", forward=0.9 * k, elbow=0.9, raise_=0.3)
    _arm(ch, "right", forward=-0.9 * k, elbow=0.9, raise_=0.3)
    return ch, root


def move_squat_bounce(p):
    ch, root = _delta()
    if p % 2 == 0:  # down, arms forward
        ch[J["left_hip"], 0] = ch[J["right_hip"], 0] = -0.75
        ch[J["left_knee"], 0] = ch[J["right_knee"], 0] = 1.3
        ch[J["left_ankle"], 0] = ch[J["right_ankle"], 0] = -0.45
        ch[J["spine1"], 0] = 0.25
        for side in ("left", "right"):
            _arm(ch, side, forward=1.1, elbow=0.9)
    else:  # up, arms high in a V
        for side in ("left", "right"):
            _arm(ch, side, raise_=2.1, elbow=0.3)
    return ch, root


def move_arm_wave(p):
    ch, root = _delta()
    lead, follow = ("left", "right") if p % 2 == 0 else ("right", "left")
    _arm(ch, lead, raise_=1.5, elbow=0.9)
    _arm(ch, follow, raise_=1.0, elbow=0.1)
    ch[J["spine2"], 2] = 0.1 if lead == "left" else -0.1
    ch[J["head"], 2] = -0.15 if lead == "left" else 0.15
    return ch, root


def move_torso_twist(p):
    ch, root = _delta()
    k = 1.0 if p % 2 == 0 else -1.0
    for j in ("spine1", "spine2", "spine3"):
        ch[J[j], 1] = 0.17 * k
    ch[J["pelvis"], 1] = -0.12 * k
    for side in ("left", "right"):
        _arm(ch, side, forward=0.7, elbow=1.5, raise_=0.3)
    return ch, root


def move_hip_sway(p):
    ch, root = _delta()
    k = 1.0 if p % 2 == 0 else -1.0
    root[0] = 0.05 * k
    ch[J["pelvis"], 2] = 0.12 * k
    ch[J["spine2"], 2] = -0.15 * k
    ch[J["neck"], 2] = 0.08 * k
    _arm(ch, "left", raise_=0.5 + 0.3 * k, elbow=0.6)
    _arm(ch, "right", raise_=0.5 - 0.3 * k, elbow=0.6)
    return ch, root


def move_clap(p):
    ch, root = _delta()
    if p % 2 == 1:  # hands together in front of the chest
        for side in ("left", "right"):
            _arm(ch, side, raise_=1.2, swing=1.25, elbow=0.5)
        ch[J["spine1"], 0] = 0.1
    else:
        for side in ("left", "right"):
            _arm(ch, side, raise_=0.9, swing=0.6, elbow=0.9)
        ch[J["spine1"], 0] = -0.05
    return ch, root


def move_kick(p):
    ch, root = _delta()
    if p % 2 == 1:
        leg = "left" if p == 1 else "right"
        ch[J[leg + "_hip"], 0] = -1.0
        ch[J[leg + "_knee"], 0] = 0.15
        ch[J[leg + "_ankle"], 0] = 0.3
        other = "right" if leg == "left" else "left"
        ch[J[other + "_knee"], 0] = 0.3
        ch[J[other + "_hip"], 0] = -0.15
        for side in ("left", "right"):
            _arm(ch, side, raise_=0.9, elbow=0.9, forward=0.3)
    else:
        for side in ("left", "right"):
            _arm(ch, side, raise_=0.5, elbow=1.3, forward=0.5)
    return ch, root


def move_point(p):
    ch, root = _delta()
    if p % 2 == 0:  # point up and out; the other hand on the hip
        _arm(ch, "left", raise_=2.3, forward=0.3)
        ch[J["head"], 0] = -0.2
    else:  # point down across the body
        _arm(ch, "left", raise_=0.5, swing=0.9)
        ch[J["head"], 0] = 0.2
        ch[J["spine1"], 0] = 0.12
    _arm(ch, "right", raise_=0.45, elbow=1.7, swing=-0.3)
    return ch, root


def move_shoulder_pop(p):
    ch, root = _delta()
    k = 1.0 if p % 2 == 0 else -1.0
    ch[J["left_collar"], 2] = 0.3 * k
    ch[J["right_collar"], 2] = 0.3 * k  # one shoulder up while the other goes down
    ch[J["neck"], 0] = 0.15 * k
    for side in ("left", "right"):
        _arm(ch, side, elbow=1.2, forward=0.4)
    return ch, root


MOVES = (move_arm_pump, move_side_step, move_squat_bounce, move_arm_wave, move_torso_twist, move_hip_sway,
         move_clap, move_kick, move_point, move_shoulder_pop)
MOVE_NAMES = tuple(m.__name__.removeprefix("move_") for m in MOVES)

# chord root pitch class (C = 0) → (move, mirrored, sideways place in metres): how the chords choreograph a bar.
# Fixed, so a model that hears the chords can know the move; a neighbouring chord is a different move.
HARMONY: tuple[tuple[str, bool, float], ...] = (
    ("arm_pump", False, 0.0), ("side_step", False, 0.1), ("squat_bounce", False, 0.0), ("arm_wave", False, -0.1),
    ("torso_twist", False, 0.0), ("hip_sway", False, 0.1), ("clap", False, 0.0), ("kick", False, -0.1),
    ("point", False, 0.0), ("shoulder_pop", False, 0.1), ("arm_wave", True, 0.0), ("point", True, -0.1),
)


# ---------------------------------------------------------------------------------------------- generator
def ease(u: np.ndarray, sharpness: float) -> np.ndarray:
    """0→1 with zero slope at both ends (sharpness > 1): u^p / (u^p + (1-u)^p)."""
    a = u**sharpness
    return a / (a + (1 - u) ** sharpness)


def _beat_grid(beats: np.ndarray, positions: np.ndarray, duration: float,
               period: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Extend the music's beats to cover [0, duration] with one spare beat each side; returns
    (times, positions 0..3, index of the first music beat in the extended grid)."""
    if period is None:
        if len(beats) < 2:
            raise EvalkitError(f"choreography needs the beat period or at least 2 beats, got {len(beats)} beat(s)")
        period = float(np.median(np.diff(beats)))
    if len(beats) == 0:
        raise EvalkitError("choreography needs at least one beat", hint="use a longer clip")
    n_before = int(np.ceil(beats[0] / period)) + 1
    n_after = int(np.ceil(max(duration - beats[-1], 0) / period)) + 1
    before = beats[0] - period * np.arange(n_before, 0, -1)
    after = beats[-1] + period * np.arange(1, n_after + 1)
    times = np.concatenate([before, beats, after])
    pos0 = int(positions[0]) - 1
    pos = (pos0 + np.arange(-n_before, len(beats) + n_after)) % 4
    return times, pos, n_before


def choreograph(beats: np.ndarray, positions: np.ndarray, strength: np.ndarray, duration: float, fps: float,
                dancer: Dancer, rng: np.random.Generator, period: float | None = None,
                chords: np.ndarray | None = None) -> Motion:
    """Motion of ``dancer`` for music with the given beats (s), bar positions (1..4) and per-beat onset
    strength in [0, 1]; ``duration`` s at ``fps``; ``period`` = 60/BPM (default: from the beats).
    ``chords``: root pitch class of each bar from the first downbeat on (``Track.chords``); given, the chords
    pick each bar's move, side and place (``HARMONY``; bars before the first downbeat take the first chord,
    bars past the last the last); None, the dancer's preferences and ``rng`` do.
    Poses stop on each beat (see the module docstring)."""
    times, pos, first = _beat_grid(np.asarray(beats, float), np.asarray(positions), duration, period)
    n_keys = len(times)
    if chords is not None:
        chords = np.asarray(chords, int)
        if chords.ndim != 1 or len(chords) == 0 or chords.min() < 0 or chords.max() > 11:
            raise EvalkitError(f"chords must be pitch classes 0..11, one per bar, got {chords!r}")
        downbeats = np.cumsum(pos == 0)  # bar 0 starts at the first downbeat at or after the first music beat
        bar_of_key = np.clip(downbeats - downbeats[first] - int(pos[first] != 0), 0, len(chords) - 1)
    amp = np.full(n_keys, 0.3)  # before the music starts / after it ends: small moves
    # on the music: size follows the onset strength (accents and breakdowns) without collapsing on weak beats
    amp[first:first + len(beats)] = 0.5 + 0.5 * np.asarray(strength, float)
    amp *= dancer.amplitude
    neutral = _neutral(dancer)
    keys = np.zeros((n_keys, 24, 3))
    roots = np.zeros((n_keys, 3))
    bar_moves = []
    move, flip, gain, prev = 0, False, 1.0, -1
    drift = np.zeros(3)
    for k in range(n_keys):
        if k == 0 or pos[k] == 0:  # a new bar
            if chords is not None:  # the chord's move, side and place
                name, flip, place = HARMONY[int(chords[bar_of_key[k]])]
                move, drift = MOVE_NAMES.index(name), np.array([place, 0.0, 0.0])
            else:  # a random move, side and size
                w = dancer.move_weights.copy()
                if prev >= 0:
                    w[prev] *= 0.3  # rarely the same move twice in a row
                move = int(rng.choice(len(MOVES), p=w / w.sum()))
                flip, gain, prev = bool(rng.random() < 0.5), float(rng.uniform(0.8, 1.2)), move
                drift = np.clip(drift + rng.normal(0, [0.08, 0, 0.04]), [-0.3, 0, -0.2], [0.3, 0, 0.2])
            bar_moves.append(MOVE_NAMES[move])
        ch, root = MOVES[move](int(pos[k]))
        if flip:
            ch, root = mirror(ch), root * np.array([-1.0, 1.0, 1.0])
        ch = ch * amp[k] * gain
        ch[[J["left_knee"], J["right_knee"]], 0] += dancer.bounce * amp[k] * (k % 2)  # groove on alternate beats
        ch += rng.normal(0, 0.03, size=ch.shape)  # no two beats alike
        keys[k] = neutral + ch
        roots[k] = root * amp[k] * gain + drift
    # frames: interpolate between the key poses of the surrounding beats with the easing curve
    t = np.arange(int(round(duration * fps))) / fps
    idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, n_keys - 2)
    u = np.clip((t - times[idx]) / (times[idx + 1] - times[idx]), 0, 1)
    e = ease(u, dancer.sharpness)[:, None]
    channels = keys[idx] + e[:, :, None] * (keys[idx + 1] - keys[idx])
    root_off = roots[idx] + e * (roots[idx + 1] - roots[idx])
    local = channels_to_matrices(channels)
    offsets = offsets_of(dancer.rest)
    trans = dancer.rest[0] + root_off
    joints = forward_kinematics(local, trans, offsets)
    # keep the lower foot on the floor (a smooth function of the pose, so it also stops on the beats)
    lift = joints[:, FEET, 1].min(axis=1) - dancer.rest[FEET, 1].min()
    joints[..., 1] -= lift[:, None]
    trans = trans - lift[:, None] * np.array([0.0, 1.0, 0.0])
    return Motion(joints=joints, fps=float(fps), poses=matrices_to_rotvec(local), trans=trans,
                  info={"moves_per_bar": bar_moves, "sharpness": dancer.sharpness, "amplitude": dancer.amplitude})


def neutral_pose(dancer: Dancer) -> np.ndarray:
    """(24, 3) joints of the dancer's relaxed stance (used for the reference image)."""
    local = channels_to_matrices(_neutral(dancer))[None]
    joints = forward_kinematics(local, dancer.rest[None, 0], offsets_of(dancer.rest))[0]
    joints[:, 1] -= joints[FEET, 1].min() - dancer.rest[FEET, 1].min()
    return joints


def kinetic_velocity(joints: np.ndarray) -> np.ndarray:
    """Mean joint speed between consecutive frames, (T-1,) (Bailando's kinetic velocity)."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(axis=-1)


# ---------------------------------------------------------------------------------------------- EDGE
EDGE_FPS = 30.0


def load_edge_pkl(path: str | Path, up: str = "z", fps: float = EDGE_FPS) -> Motion:
    """Motion from an EDGE output pickle (``{'full_pose': (T,24,3)}`` and/or ``'smpl_poses'`` (T,72) +
    ``'smpl_trans'`` (T,3)), read with the numpy-only unpickler.

    EDGE works z-up (it rotates AIST++ by +90° about x); ``up='z'`` rotates back to evalkit's y-up.
    With poses only, joints come from forward kinematics on evalkit's rest skeleton (our bone lengths,
    not the SMPL body model's), recorded in ``info['joints_from']``.
    """
    from evalkit.weights.unpickle import loads_numpy_only

    path = Path(path)
    if not path.is_file():
        raise EvalkitError("no such EDGE motion file", path=path)
    try:
        data = loads_numpy_only(path.read_bytes())
    except Exception as err:
        raise EvalkitError(f"cannot read as a numpy-only pickle ({err})", path=path,
                           hint="EDGE motions must hold numpy arrays (save them with .cpu().numpy())") from None
    if not isinstance(data, dict):
        raise EvalkitError(f"expected a dict, found {type(data).__name__}", path=path)
    if up not in ("y", "z"):
        raise EvalkitError(f"up must be 'y' or 'z', got {up!r}")
    poses = trans = None
    if "smpl_poses" in data and "smpl_trans" in data:
        poses = np.asarray(data["smpl_poses"], dtype=np.float64)
        trans = np.asarray(data["smpl_trans"], dtype=np.float64)
        if poses.shape[1:] not in ((72,), (24, 3)) or trans.shape != (len(poses), 3):
            raise EvalkitError(f"smpl_poses {poses.shape} / smpl_trans {trans.shape} are not (T,72) / (T,3)",
                               path=path)
        poses = poses.reshape(len(poses), 24, 3)
    if "full_pose" in data:
        joints = np.asarray(data["full_pose"], dtype=np.float64)
        if joints.ndim == 4 and joints.shape[0] == 1:
            joints = joints[0]
        if joints.ndim != 3 or joints.shape[1:] != (24, 3):
            raise EvalkitError(f"full_pose has shape {joints.shape}, expected (T, 24, 3)", path=path)
        source = "full_pose"
    elif poses is not None:
        joints = forward_kinematics(rotvec_to_matrices(poses), trans, offsets_of(t_pose()))
        source = "forward kinematics of smpl_poses on evalkit's rest skeleton"
    else:
        raise EvalkitError(f"has neither 'full_pose' nor 'smpl_poses'+'smpl_trans' (keys: {sorted(data)})",
                           path=path)
    if not np.all(np.isfinite(joints)):
        raise EvalkitError("joint positions contain NaN or inf", path=path)
    if up == "z":  # inverse of EDGE's +90° about x: (x, y, z)_edge → (x, z, -y)
        to_y_up = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
        joints = joints @ to_y_up.T
        if trans is not None:
            trans = trans @ to_y_up.T
        if poses is not None:
            root = to_y_up @ rotvec_to_matrices(poses[:, 0])
            poses = poses.copy()
            poses[:, 0] = matrices_to_rotvec(root)
    return Motion(joints=joints, fps=float(fps), poses=poses, trans=trans,
                  info={"source": "EDGE", "path": str(path), "joints_from": source, "up": up,
                        "floor_clearance": FOOT_CLEARANCE})
