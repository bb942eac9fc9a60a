"""What a metric's update() receives: one paired video (and its music, loaded on demand)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from evalkit.io.audio import Audio
from evalkit.io.video import Video


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
                from evalkit.errors import EvalkitError

                raise EvalkitError("no audio source", path=self.pred.path, hint="pass --audio DIR")
            self._audio = self.audio_loader()
        return self._audio

    @property
    def pred_path(self) -> Path:
        return self.pred.path
