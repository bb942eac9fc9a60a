"""retrieval: the training clip whose music is nearest, time-warped onto the test music's beats.

Library: the training part of the same dataset when it has motion (synth, AIST++), else the embedded SDGPip
training part (the wild split has no training motion). Music descriptor per clip (over the clip's duration):
MFCC-20 mean and std, chroma mean, onset-strength mean and std and log2 tempo; each dimension z-scored over
the library; nearest = smallest Euclidean distance (a library clip with the same music file is never taken).
The retrieved clip's SMPL rotations are retargeted onto the test dancer's body; its motion beats (kinetic-
velocity minima next to its music beats) are warped onto the beats librosa finds in the test music.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.baselines.look import MotionOnLook
from evalkit.generators import GeneratorContext, take_options


def music_descriptor(y: np.ndarray) -> np.ndarray:
    import librosa
    from evalkit.baselines.motion import ANALYSIS_SR, HOP

    mfcc = librosa.feature.mfcc(y=y, sr=ANALYSIS_SR, n_mfcc=20, hop_length=HOP)
    chroma = librosa.feature.chroma_stft(y=y, sr=ANALYSIS_SR, hop_length=HOP)
    onset = librosa.onset.onset_strength(y=y, sr=ANALYSIS_SR, hop_length=HOP)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=ANALYSIS_SR, hop_length=HOP))[0])
    return np.concatenate([mfcc.mean(1), mfcc.std(1), chroma.mean(1), [onset.mean(), onset.std(), np.log2(tempo)]])


@dataclass
class LibraryClip:
    id: str
    music: Path
    poses: np.ndarray  # (T, 24, 3) axis-angle
    trans: np.ndarray  # (T, 3) metres
    fps: float
    music_beats: np.ndarray
    descriptor: np.ndarray
    motion_beats: np.ndarray | None = None  # on the retargeted body, computed when first used


def load_library(split) -> list[LibraryClip]:
    from evalkit.baselines.motion import load_music, track_beats

    from evalkit.data.aist import load_pickle

    clips = []
    for sample in split:
        motion_file = sample.meta.get("motion_file")
        if not motion_file:
            raise EvalkitError(f"library sample {sample.id} has no motion file", hint="use a split with SMPL motions")
        data = load_pickle(Path(motion_file))
        poses = np.asarray(data["smpl_poses"], dtype=np.float64).reshape(-1, 24, 3)
        scaling = float(np.asarray(data.get("smpl_scaling", [1.0])).reshape(-1)[0])
        trans = np.asarray(data["smpl_trans"], dtype=np.float64) / scaling
        y = load_music(sample.music, len(poses) / sample.fps)
        beats = sample.beats if sample.beats is not None else track_beats(y)
        clips.append(LibraryClip(sample.id, Path(sample.music), poses, trans, float(sample.fps),
                                 np.asarray(beats, dtype=np.float64), music_descriptor(y)))
    if len(clips) == 0:
        raise EvalkitError(f"the retrieval library {split.name} is empty")
    return clips


class Retrieval(MotionOnLook):
    name = "retrieval"
    version = "1"

    def __init__(self, context: GeneratorContext | None = None):
        context = context or GeneratorContext()
        opts = take_options(context, self.name, {"pose_backend": "blazepose", "library": ""})
        self.pose_backend = opts["pose_backend"]
        if opts["library"]:
            self.library_spec = (opts["library"], None)
        elif context.dataset in ("synth", "aistpp"):
            self.library_spec = (context.dataset, context.root)
        else:
            self.library_spec = ("synth", None)  # real footage without motion: the SDGPip training clips
        self._library: list[LibraryClip] | None = None
        self.retrieved: dict[str, str] = {}
        self.counts: dict = {}

    @property
    def library(self) -> list[LibraryClip]:
        if self._library is None:
            from evalkit.data.registry import get_split

            dataset, root = self.library_spec
            self._library = load_library(get_split(dataset, "train", root))
            feats = np.stack([c.descriptor for c in self._library])
            self._mean, self._std = feats.mean(0), feats.std(0) + 1e-8
        return self._library

    def nearest(self, y: np.ndarray, music: Path) -> LibraryClip:
        library = self.library
        query = (music_descriptor(y) - self._mean) / self._std
        dist = [np.inf if c.music.resolve() == Path(music).resolve() else
                float(np.linalg.norm((c.descriptor - self._mean) / self._std - query)) for c in library]
        if not np.isfinite(min(dist)):
            raise EvalkitError("the retrieval library holds only this sample's own music")
        return library[int(np.argmin(dist))]

    def motion(self, sample, music: Path | None = None, rest: np.ndarray | None = None) -> np.ndarray:
        """The warped, retargeted joints (T, 24, 3) for ``sample`` (before rendering)."""
        from evalkit.baselines.motion import load_music, motion_beats, retarget, track_beats, usable_beats, warp_motion

        from evalkit.data.synth.skeleton import t_pose

        music = Path(music or sample.music)
        duration = sample.num_frames / sample.fps
        y = load_music(music, duration)
        clip = self.nearest(y, music)
        rest = t_pose() if rest is None else rest
        joints = retarget(clip.poses, clip.trans, rest)
        src_beats, src_fallback = usable_beats(motion_beats(joints, clip.fps, clip.music_beats), len(joints) / clip.fps)
        test_beats, test_fallback = usable_beats(track_beats(y), duration)
        out, warp = warp_motion(joints, clip.fps, src_beats, test_beats, sample.num_frames, sample.fps)
        self.retrieved[sample.id] = clip.id
        self.counts["loops"] = self.counts.get("loops", 0) + warp["loops"]
        self.counts["beat_grid_fallbacks"] = self.counts.get("beat_grid_fallbacks", 0) + int(src_fallback) + int(test_fallback)
        return out

    def info(self) -> dict:
        dataset, root = self.library_spec
        return {"library": f"{dataset}-train" + (f" ({root})" if root else ""), "pose_backend": self.pose_backend,
                "retrieved": dict(sorted(self.retrieved.items())), "counts": dict(self.counts)}
