"""The result of pose extraction: a video's body joints (its own module, so the backends' cache can build
one without importing the extraction entry point)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PoseTrack:
    """Body joints of one video.

    joints: (T, 17, 2) float64 pixel coordinates (x, y) in the decoded frame; NaN where no person.
    conf:   (T, 17) float64 confidences in [0, 1]; 0 where no person.
    present: (T,) bool, a person was found in the frame.
    info: backend, model file sha256, settings — recorded in every result that uses the track.
    """

    joints: np.ndarray
    conf: np.ndarray
    present: np.ndarray
    fps: float
    size: tuple[int, int]  # (height, width) of the frames the joints refer to
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])
