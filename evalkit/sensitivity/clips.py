"""Clip sources of the validity suite: seeded SDGPip clips (made once in the cache) and a folder of real music
videos."""
from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.sensitivity.damages import Clip


def synth_root(clips: int, seconds: float, size: int, seed: int) -> Path:
    """An SDGPip test split of ``clips`` clips (RGB only) in the cache, generated on first use; keyed by the
    generator's fingerprint so that a changed generator makes a fresh one."""
    import shutil

    from evalkit.data.synth.default import generator_fingerprint
    from evalkit.data.synth.pipeline import SynthConfig, default_jobs, generate
    from evalkit.paths import cache_dir

    root = cache_dir("sensitivity") / f"synth-{generator_fingerprint()}-{seed}-{clips}x{seconds:g}s-{size}"
    if not (root / "sdgpip.json").is_file():
        shutil.rmtree(root, ignore_errors=True)
        cfg = SynthConfig(train=0, test=clips, seconds=seconds, size=size, seed=seed, maps=("rgb",))
        generate(root, cfg, jobs=min(default_jobs(), 2))
    return root


def synth_clips(clips: int = 12, seconds: float = 4.0, size: int = 256, seed: int = 0) -> list[Clip]:
    from evalkit.data.aist import AistSplit

    split = AistSplit(synth_root(clips, seconds, size, seed), "test", crop=None)
    return [_load(s.id, _video(s), s.music) for s in split]


def wild_clips(root: str | Path, limit: int | None = None) -> list[Clip]:
    """Every video of ``root`` that has music (videos without are left out, as the wild split does)."""
    from evalkit.data.wild import WildSplit

    split = WildSplit(root)
    if len(split) == 0:
        raise EvalkitError("no video with music in the folder", path=root, hint="pass a folder of music videos")
    return [_load(s.id, _video(s), s.music) for s in list(split)[:limit]]


def cut(clip: Clip, seconds: float) -> Clip:
    """The clip's first ``seconds`` (frames and music)."""
    from dataclasses import replace

    frames = clip.frames[:max(1, int(round(seconds * clip.fps)))]
    return replace(clip, frames=frames, samples=clip.samples[:, :int(round(len(frames) / clip.fps * clip.sample_rate))])


def _video(sample):
    """The sample's video; decoded directly when the sample neither crops nor resizes (both sources here)."""
    from evalkit.io.video import decode_video

    if sample.crop is None and sample.resize is None:
        return decode_video(sample.video)
    return sample.load_video()


def _load(key: str, video, music: Path) -> Clip:
    from evalkit.io.audio import decode_audio

    audio = decode_audio(music)
    return Clip(key, video.frames, float(video.fps), audio.samples, audio.sample_rate)
