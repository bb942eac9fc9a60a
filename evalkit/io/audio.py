"""Audio for a video: from its own container, or from a sidecar file with the same stem."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

AUDIO_EXTS = (".wav", ".mp3", ".ogg", ".flac")


@dataclass
class Audio:
    samples: np.ndarray  # float32, (channels, n) as decoded, native rate, no down-mix
    sample_rate: int
    path: Path
    source: str  # "container" | "sidecar" | "file"

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0) if self.samples.ndim == 2 else self.samples


def sidecar_for(video: Path, audio_dir: Path | None = None) -> Path | None:
    video = Path(video)
    folders = [audio_dir] if audio_dir else [video.parent]
    for folder in folders:
        for ext in AUDIO_EXTS:
            cand = Path(folder) / f"{video.stem}{ext}"
            if cand.is_file():
                return cand
    return None


def decode_audio(path: str | Path, source: str = "file") -> Audio:
    """Decode the first audio stream of ``path`` to float32 planar samples at the native rate."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise EvalkitError("has no audio stream", path=path,
                                   hint="put a sidecar .wav/.mp3/.ogg/.flac with the same stem beside it, or pass --audio DIR")
            stream = container.streams.audio[0]
            chunks = [_planar(f) for f in container.decode(stream)]
            rate = stream.codec_context.sample_rate
    except EvalkitError:
        raise
    except Exception as err:
        raise EvalkitError(f"cannot decode audio ({type(err).__name__})", path=path, hint="re-encode it") from None
    if not chunks:
        raise EvalkitError("audio stream is empty", path=path)
    return Audio(np.concatenate(chunks, axis=1).astype(np.float32), int(rate), path, source)


def _planar(frame) -> np.ndarray:
    # Reformat to planar float so every codec's sample format comes out as (channels, n).
    import av

    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=frame.sample_rate)
    out = [f.to_ndarray() for f in resampler.resample(frame)]
    return np.concatenate(out, axis=1) if out else np.zeros((len(frame.layout.channels), 0), np.float32)


def audio_for_video(video: str | Path, audio_dir: str | Path | None = None) -> Audio:
    """Sidecar (or ``audio_dir``) first, else the video's own audio stream."""
    video = Path(video)
    side = sidecar_for(video, Path(audio_dir) if audio_dir else None)
    if side is not None:
        return decode_audio(side, "sidecar")
    if video.is_dir():
        raise EvalkitError("frame folder has no sidecar audio", path=video,
                           hint=f"put {video.name}.wav beside it or pass --audio DIR")
    return decode_audio(video, "container")
