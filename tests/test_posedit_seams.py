"""The seam figures of posedit's long stitched sequences (models/posedit/seams.py) on sequences built by hand."""
import numpy as np

from evalkit.models.posedit.config import get_config
from evalkit.models.posedit.sample import window_starts
from evalkit.models.posedit.seams import seam_figures, seam_mask, steps


def test_seam_mask_marks_the_steps_touching_shared_frames():
    cfg = get_config("tiny")  # windows of 48 frames sharing 12
    n = 30 * 15  # 30 s at 15 fps
    wins = window_starts(n, cfg.window, cfg.overlap)
    mask = seam_mask(n, wins)
    assert mask.shape == (n - 1,)
    (a1, _), (_, e0) = wins[1], wins[0]
    assert e0 - a1 == cfg.overlap
    # the step into the second window's first frame through the first window's last frame: overlap + 1 steps
    assert mask[a1 - 1:e0].all() and not mask[a1 - 2] and not mask[e0]
    # the last window ends at the music's end, so it shares more frames; shared stretches may touch
    expected = set().union(*(range(a - 1, e) for (a, _), (_, e) in zip(wins[1:], wins[:-1])))
    assert set(np.flatnonzero(mask)) == expected and wins[-1][1] == n


def test_steps_are_mean_joint_displacements_in_torso_lengths():
    poses = np.zeros((4, 17, 3))
    poses[1:, :, 0] = 10.0  # every joint moves 10 px right between frames 0 and 1
    poses[3, :5, 1] = 20.0  # five joints move 20 px down between frames 2 and 3
    np.testing.assert_allclose(steps(poses, torso=5.0), [2.0, 0.0, 4.0 * 5 / 17], rtol=0, atol=1e-12)


def test_seam_figures_show_a_jump_and_not_smooth_motion():
    n = 200
    mask = np.zeros(n - 1, bool)
    mask[50:60] = mask[120:130] = True
    smooth = np.full(n - 1, 0.02)
    f = seam_figures(smooth, mask)
    assert abs(f["ratio_max"] - 1.0) < 1e-12 and abs(f["ratio_mean"] - 1.0) < 1e-12
    jumpy = smooth.copy()
    jumpy[55] = 0.2  # one hand-over jumps 10x the motion's own step
    f = seam_figures(jumpy, mask)
    assert abs(f["ratio_max"] - 10.0) < 1e-9 and abs(f["seam_max"] - 0.2) < 1e-12
    assert abs(f["seam_mean"] - (19 * 0.02 + 0.2) / 20) < 1e-12 and f["inside_max"] == 0.02
