"""A split's sample and the interface every split loader implements."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np


@dataclass
class Sample:
    """One evaluation/training sample.

    video: path of the ground-truth video (RGB; audio may be muxed in).
    music: path of the music audio (wav/mp3/ogg/flac, or the video itself when muxed).
    reference: path of the reference image (PNG/JPG) of the person.
    joints2d: (T, 17, 3) COCO-17 (x, y, conf) in pixels of the video frames, if known.
    joints3d: (T, 24, 3) SMPL joints in metres, if known.
    guidance: name -> path of a guidance video/array (depth, normal, semantic, skeleton, heatmap), if any.
    beats: music beat times in seconds, if known.
    """

    id: str
    video: Path
    music: Path
    reference: Path
    fps: float
    num_frames: int
    joints2d: np.ndarray | None = None
    joints3d: np.ndarray | None = None
    guidance: dict[str, Path] = field(default_factory=dict)
    beats: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


class Split(Protocol):
    name: str  # e.g. "synth-test", "wild", "aistpp-test"

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Sample]: ...

    def validate(self) -> list[str]:
        """Every problem found (empty list: valid)."""
        ...
