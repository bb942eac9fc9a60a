"""What a metric's update() receives: one paired video (and its music, loaded on demand)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.io.audio import Audio
from evalkit.io.video import Video

#: the least share of the video's duration the music must cover; beats of shorter music say nothing about
#: the uncovered frames (0.3 s of music under a 4-s video gave BeatAlign 1.9e-22), see docs/bad-inputs.md
MIN_AUDIO_COVER = 0.9


@dataclass
class ScoreItem:
    key: str  # relative path stem shared by pred and gt
    pred: Video
    gt: Video | None = None
    audio_loader: Callable[[], Audio] | None = None  # music for the pred video (container, sidecar or --audio DIR)
    notes: dict = field(default_factory=dict)  # what pairing policies did to this item (counted in results)
    _audio: Audio | None = None

    @property
    def audio(self) -> Audio:
        """The music; raises EvalkitError (naming the file and the fix) when there is none."""
        if self._audio is None:
            if self.audio_loader is None:
                raise EvalkitError("no audio source", path=self.pred.path, hint="pass --audio DIR")
            self._audio = _long_enough(self.audio_loader(), self.pred)
        return self._audio

    @property
    def pred_path(self) -> Path:
        return self.pred.path

    def chunk_frames(self, budget: int) -> int:
        """Frames per decoded chunk of this pair within a memory budget of ``budget`` bytes (evalkit.memory)."""
        from evalkit.memory import chunk_frames

        height, width = self.pred.size
        return chunk_frames(budget, height * width, 1 if self.gt is None else 2)

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(pred, gt) runs of at most ``size`` consecutive frames, decoded as they are asked for (gt None where
        there is none): one chunk of the pair is in memory at a time."""
        if self.gt is None:
            for pred in self.pred.chunks(size):
                yield pred, None
            return
        yield from zip(self.pred.chunks(size), self.gt.chunks(size), strict=True)


def _long_enough(audio: Audio, video: Video) -> Audio:
    """The music, or EvalkitError when it covers less than MIN_AUDIO_COVER of the video: the audio metrics
    then have no value for this video (counted under the table, exit 3) instead of a meaningless number."""
    seconds = audio.samples.shape[-1] / audio.sample_rate
    duration = video.num_frames / video.fps if video.fps else 0.0
    if duration and seconds < MIN_AUDIO_COVER * duration:
        raise EvalkitError(f"audio is {seconds:.2f} s under a {duration:.2f}-s video (needs ≥ "
                           f"{MIN_AUDIO_COVER:.0%} of it)", path=audio.path,
                           hint="pass the full music track (--audio DIR) or trim the video to it")
    return audio
