"""The SMPL 24-joint skeleton: joint tree, a plausible rest (T-)pose, body parts and COCO-17 keypoints.

World convention (SMPL): metres, y up, the dancer faces +z, the dancer's left is +x, feet near y = 0.
"""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError

SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

# Offset of each joint from its parent in the rest T-pose of a ~1.70 m adult (arms along ±x).
# Rounded values close to the mean SMPL shape; our own numbers, not SMPL's template.
REST_OFFSETS = np.array([
    [0.000, 0.000, 0.000],    # pelvis (placed by t_pose)
    [0.070, -0.090, 0.000],   # left_hip
    [-0.070, -0.090, 0.000],  # right_hip
    [0.000, 0.110, -0.010],   # spine1
    [0.010, -0.380, 0.000],   # left_knee
    [-0.010, -0.380, 0.000],  # right_knee
    [0.000, 0.130, 0.010],    # spine2
    [0.000, -0.400, -0.030],  # left_ankle
    [0.000, -0.400, -0.030],  # right_ankle
    [0.000, 0.055, 0.000],    # spine3
    [0.010, -0.055, 0.120],   # left_foot (ball of the foot)
    [-0.010, -0.055, 0.120],  # right_foot
    [0.000, 0.210, -0.030],   # neck
    [0.070, 0.120, -0.010],   # left_collar
    [-0.070, 0.120, -0.010],  # right_collar
    [0.000, 0.090, 0.040],    # head
    [0.120, 0.035, -0.010],   # left_shoulder
    [-0.120, 0.035, -0.010],  # right_shoulder
    [0.260, 0.000, 0.000],    # left_elbow
    [-0.260, 0.000, 0.000],   # right_elbow
    [0.250, 0.000, 0.000],    # left_wrist
    [-0.250, 0.000, 0.000],   # right_wrist
    [0.085, 0.000, 0.000],    # left_hand
    [-0.085, 0.000, 0.000],   # right_hand
])
REST_BONE_LENGTHS = np.linalg.norm(REST_OFFSETS, axis=1)  # entry 0 (pelvis) is 0
FOOT_CLEARANCE = 0.02  # height of the foot joints above the floor in the rest pose (m)
# Straight-line pelvis→neck distance of the rest pose: the renderer's body-size yardstick.
REST_TRUNK = float(np.linalg.norm(REST_OFFSETS[[3, 6, 9, 12]].sum(0)))

# Body parts: semantic label = index + 1 (0 is background). Radii in metres at rest size.
PART_NAMES = (
    "head", "neck", "chest", "abdomen", "pelvis",
    "left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm", "left_hand", "right_hand",
    "left_thigh", "right_thigh", "left_calf", "right_calf", "left_foot", "right_foot",
)
P = {name: i for i, name in enumerate(PART_NAMES)}
NUM_PARTS = len(PART_NAMES)
# Capsule parts: (part, joint a, joint b, radius, extension of b beyond the joint as a fraction of a→b).
CAPSULES = (
    ("neck", J["neck"], J["head"], 0.052, -0.2),
    ("chest", J["left_shoulder"], J["right_shoulder"], 0.058, 0.0),  # rounds the shoulders
    ("left_upper_arm", J["left_shoulder"], J["left_elbow"], 0.050, 0.0),
    ("right_upper_arm", J["right_shoulder"], J["right_elbow"], 0.050, 0.0),
    ("left_forearm", J["left_elbow"], J["left_wrist"], 0.040, 0.0),
    ("right_forearm", J["right_elbow"], J["right_wrist"], 0.040, 0.0),
    ("left_hand", J["left_wrist"], J["left_hand"], 0.034, 0.6),
    ("right_hand", J["right_wrist"], J["right_hand"], 0.034, 0.6),
    ("left_thigh", J["left_hip"], J["left_knee"], 0.075, 0.0),
    ("right_thigh", J["right_hip"], J["right_knee"], 0.075, 0.0),
    ("left_calf", J["left_knee"], J["left_ankle"], 0.055, 0.0),
    ("right_calf", J["right_knee"], J["right_ankle"], 0.055, 0.0),
    ("left_foot", J["left_ankle"], J["left_foot"], 0.042, 0.3),
    ("right_foot", J["right_ankle"], J["right_foot"], 0.042, 0.3),
)
# Ellipsoid parts: radii (lateral, up, forward) at rest size; their frames are built in render.py.
ELLIPSOIDS = (
    ("head", (0.078, 0.108, 0.095)),
    ("chest", (0.165, 0.190, 0.110)),
    ("abdomen", (0.140, 0.120, 0.100)),
    ("pelvis", (0.160, 0.110, 0.110)),
)

# COCO-17 from SMPL: an SMPL joint index, or None for the five face points (nose, eyes, ears), which are
# placed on the head ellipsoid from the head/neck joints and the body's facing direction (render.py).
COCO17_FROM_SMPL = (
    None, None, None, None, None,
    J["left_shoulder"], J["right_shoulder"], J["left_elbow"], J["right_elbow"],
    J["left_wrist"], J["right_wrist"], J["left_hip"], J["right_hip"],
    J["left_knee"], J["right_knee"], J["left_ankle"], J["right_ankle"],
)
# Body parts around each COCO keypoint: their thickness is how deep under the visible surface it may lie.
COCO17_OWNERS = (
    ("head",),) * 5 + (
    ("chest", "left_upper_arm"), ("chest", "right_upper_arm"),
    ("left_upper_arm", "left_forearm"), ("right_upper_arm", "right_forearm"),
    ("left_forearm", "left_hand"), ("right_forearm", "right_hand"),
    ("pelvis", "left_thigh"), ("pelvis", "right_thigh"),
    ("left_thigh", "left_calf"), ("right_thigh", "right_calf"),
    ("left_calf", "left_foot"), ("right_calf", "right_foot"),
)


def t_pose(limb_lengths: np.ndarray | None = None) -> np.ndarray:
    """(24, 3) joints of a T-pose with the given bone lengths (metres; entry j = length of the bone from
    SMPL_PARENTS[j] to j; entry 0 unused). Bone directions are the rest ones; feet are put on the floor."""
    lengths = REST_BONE_LENGTHS if limb_lengths is None else np.asarray(limb_lengths, dtype=np.float64)
    if lengths.shape != (24,) or not np.all(np.isfinite(lengths)) or np.any(lengths[1:] <= 0):
        raise EvalkitError(f"t_pose needs 24 positive finite bone lengths, got shape {lengths.shape}")
    directions = REST_OFFSETS[1:] / REST_BONE_LENGTHS[1:, None]
    joints = np.zeros((24, 3))
    for j in range(1, 24):
        joints[j] = joints[SMPL_PARENTS[j]] + directions[j - 1] * lengths[j]
    joints[:, 1] += FOOT_CLEARANCE - joints[[J["left_foot"], J["right_foot"]], 1].min()
    return joints


def rest_skeleton(rng: np.random.Generator) -> np.ndarray:
    """A random plausible adult standing in a T-pose: (24, 3), height ~1.55-1.90 m, varied proportions
    (left/right symmetric)."""
    height = rng.uniform(0.91, 1.12)  # overall scale of the ~1.70 m rest body
    legs, arms, trunk = rng.uniform(0.94, 1.06, size=3)  # relative proportions
    scale = np.full(24, height)
    scale[[1, 2, 4, 5, 7, 8, 10, 11]] *= legs
    scale[[16, 17, 18, 19, 20, 21, 22, 23]] *= arms
    scale[[3, 6, 9, 12, 13, 14, 15]] *= trunk
    jitter = rng.normal(1.0, 0.02, size=12)  # small per-bone variation, same on both sides
    for left, right, k in ((1, 2, 0), (4, 5, 1), (7, 8, 2), (10, 11, 3), (13, 14, 4), (16, 17, 5),
                           (18, 19, 6), (20, 21, 7), (22, 23, 8)):
        scale[[left, right]] *= jitter[k]
    scale[[3, 6, 9]] *= jitter[9:12]
    return t_pose(REST_BONE_LENGTHS * scale)


def descendants(joint: int) -> list[int]:
    """The joint and every joint below it in the tree."""
    out = [joint]
    for j in range(joint + 1, 24):
        if SMPL_PARENTS[j] in out:
            out.append(j)
    return out


def bend(joints: np.ndarray, joint: int, axis, degrees: float) -> np.ndarray:
    """Rotate everything below ``joint`` about that joint (world axis, right-hand rule). Works on (24, 3) or
    (T, 24, 3); returns a new array. A small posing tool for previews and tests."""
    joints = np.array(joints, dtype=np.float64)
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    angle = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    below = descendants(joint)[1:]
    pivot = joints[..., joint:joint + 1, :]
    rel = joints[..., below, :] - pivot
    joints[..., below, :] = np.stack([rel[..., 0] * rot[i, 0] + rel[..., 1] * rot[i, 1] + rel[..., 2] * rot[i, 2]
                                      for i in range(3)], axis=-1) + pivot  # elementwise: no BLAS ordering
    return joints
