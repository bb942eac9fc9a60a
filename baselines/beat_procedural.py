"""beat-procedural: librosa's beats drive a fixed cycle of moves — strong beat alignment, no diversity.

Every detected beat gets a key pose; beats are counted in bars of four from the first detected beat (no
downbeat tracking), bar k dances CYCLE[k mod 4] from the SDGPip move library at a fixed amplitude, and the
pose eases between consecutive key poses with zero speed on each beat (so kinetic-velocity minima sit on the
beats). Past the first and last detected beat the grid continues at the median beat period. Deterministic:
the seed is not used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.baselines.look import MotionOnLook
from evalkit.generators import GeneratorContext, take_options

CYCLE = ("arm_pump", "side_step", "squat_bounce", "arm_wave")
AMPLITUDE = 0.9
SHARPNESS = 2.0  # easing exponent: >1 gives zero slope at the key poses


def neutral_channels() -> np.ndarray:
    """(24, 3) joint angles of a relaxed stance: arms down by the sides, elbows and knees a little bent."""
    from evalkit.data.synth.skeleton import J

    ch = np.zeros((24, 3))
    ch[J["left_shoulder"], 2], ch[J["right_shoulder"], 2] = -1.3, 1.3
    ch[J["left_elbow"], 1], ch[J["right_elbow"], 1] = -0.3, 0.3
    for side in ("left", "right"):
        ch[J[side + "_hip"], 0], ch[J[side + "_knee"], 0], ch[J[side + "_ankle"], 0] = -0.15, 0.3, -0.15
    return ch


def dance(beats: np.ndarray, num_frames: int, fps: float, rest: np.ndarray) -> np.ndarray:
    """Joints (num_frames, 24, 3) of the fixed move cycle on ``beats`` (s; at least two, increasing)."""
    from evalkit.baselines.motion import beat_phase, keep_on_floor

    from evalkit.data.synth.motion import MOVE_NAMES, MOVES, channels_to_matrices, ease, forward_kinematics, offsets_of

    phase = beat_phase(np.arange(num_frames) / fps, beats)
    first, last = int(np.floor(phase.min())), int(np.floor(phase.max())) + 1
    keys = np.arange(first, last + 1)  # beat indices (negative before the first detected beat)
    neutral = neutral_channels()
    key_ch = np.empty((len(keys), 24, 3))
    key_root = np.empty((len(keys), 3))
    for n, k in enumerate(keys):
        move = MOVES[MOVE_NAMES.index(CYCLE[(k // 4) % len(CYCLE)])]
        ch, root = move(int(k % 4))
        key_ch[n], key_root[n] = neutral + AMPLITUDE * ch, AMPLITUDE * root
    idx = np.clip(np.floor(phase).astype(int) - first, 0, len(keys) - 2)
    e = ease(np.clip(phase - np.floor(phase), 0, 1), SHARPNESS)[:, None]
    channels = key_ch[idx] + e[:, :, None] * (key_ch[idx + 1] - key_ch[idx])
    root = rest[0] + key_root[idx] + e * (key_root[idx + 1] - key_root[idx])
    joints = forward_kinematics(channels_to_matrices(channels), root, offsets_of(rest))
    return keep_on_floor(joints, rest)


class BeatProcedural(MotionOnLook):
    name = "beat-procedural"
    version = "1"

    def __init__(self, context: GeneratorContext | None = None):
        opts = take_options(context or GeneratorContext(), self.name, {"pose_backend": "blazepose"})
        self.pose_backend = opts["pose_backend"]
        self.counts: dict = {}

    def motion(self, sample, music: Path | None = None, rest: np.ndarray | None = None) -> np.ndarray:
        from evalkit.baselines.motion import load_music, track_beats, usable_beats

        from evalkit.data.synth.skeleton import t_pose

        duration = sample.num_frames / sample.fps
        beats, fallback = usable_beats(track_beats(load_music(music or sample.music, duration)), duration)
        self.counts["beat_grid_fallbacks"] = self.counts.get("beat_grid_fallbacks", 0) + int(fallback)
        return dance(beats, sample.num_frames, sample.fps, t_pose() if rest is None else rest)

    def info(self) -> dict:
        return {"cycle": list(CYCLE), "amplitude": AMPLITUDE, "pose_backend": self.pose_backend,
                "counts": dict(self.counts)}
