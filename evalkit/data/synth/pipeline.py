"""SDGPip: generate a synthetic dance dataset (music, choreography, renders) in the AIST++ layout.

Layout written under ``out`` (the AIST++ annotation folders, plus what AIST++ keeps elsewhere or lacks)::

    motions/<seq>.pkl        smpl_poses (T,72) axis-angle, smpl_trans (T,3) cm, smpl_scaling [100.];
                             + smpl_joints (T,24,3) metres (SDGPip extra: the exact joints rendered)
    keypoints2d/<seq>.pkl    keypoints2d (9,T,17,3) pixels+visibility, only view c09 filled (others NaN),
                             det_scores (9,T), timestamps (T,) microseconds
                             + reference_keypoints2d (17,3): the reference image's (SDGPip extra)
    keypoints3d/<seq>.pkl    keypoints3d / keypoints3d_optim (T,17,3) COCO-17, cm
    cameras/setting1.json    the c09 camera (AIST++ json keys); cameras/mapping.txt
    splits/crossmodal_{train,test}.txt, ignore_list.txt (empty)
    videos/<video>.mp4       RGB (video = seq with cAll -> c09); music not muxed
    music/<music id>.wav     16-bit PCM; music/<music id>.beats: "time<TAB>position-in-bar" per beat
    guidance/{normal,semantic,skeleton}/<video>.mp4, guidance/{depth,heatmap}/<video>.npz
    reference/<video>.png    the dancer in a relaxed stance (not a frame of the video)
    sdgpip.json              settings, evalkit version, and per sample: tempo, genre, dancer, moves

Every sample depends only on (seed, its index, the settings), so the output is the same for any ``jobs``;
writers are byte-reproducible (store.py).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

MAPS = ("rgb", "depth", "normal", "semantic", "skeleton", "heatmap")
GUIDANCE = MAPS[1:]
NPZ_MAPS = ("depth", "heatmap")
CHOREOGRAPHY = ("harmony", "random")
CAMERA = "c09"
SETTING = "setting1"
UNITS_PER_M = 100.0  # AIST++ stores 3D in centimetres
DANCER_STREAM = 1_000_003  # seed-sequence key of the dancer streams, apart from the sample streams


@dataclass
class SynthConfig:
    train: int = 8
    test: int = 4
    seconds: float = 5.0
    size: int = 256
    fps: float = 30.0
    seed: int = 0
    maps: tuple[str, ...] = MAPS
    lossless: bool = True
    sample_rate: int = 22050
    clips_per_dancer: int = 2  # clip i is danced by dancer i // clips_per_dancer (so it never depends on N)
    choreography: str = "harmony"  # "harmony": the bar's chord picks its move (music → dance); "random": the
    # dancer's preferences and the seed do (SDGPip before 2026-11-22: the music fixed when, not which)

    def check(self) -> SynthConfig:
        problems = []
        if self.train < 0 or self.test < 0 or self.train + self.test == 0:
            problems.append(f"train={self.train}, test={self.test}: need at least one clip and no negative counts")
        if not 1.0 <= self.seconds <= 120.0:
            problems.append(f"seconds={self.seconds}: use 1–120 s clips")
        if self.size < 32 or self.size % 4:
            problems.append(f"size={self.size}: use a multiple of 4, at least 32")
        if not 1.0 <= self.fps <= 120.0:
            problems.append(f"fps={self.fps}: use 1–120")
        unknown = [m for m in self.maps if m not in MAPS]
        if unknown or "rgb" not in self.maps:
            problems.append(f"maps={list(self.maps)}: choose from {', '.join(MAPS)} (rgb is required)")
        if self.choreography not in CHOREOGRAPHY:
            problems.append(f"choreography={self.choreography!r}: choose {' or '.join(CHOREOGRAPHY)}")
        if self.clips_per_dancer < 1:
            problems.append(f"clips_per_dancer={self.clips_per_dancer}: need at least 1")
        if problems:
            raise EvalkitError("bad SDGPip settings: " + "; ".join(problems))
        self.maps = tuple(m for m in MAPS if m in self.maps)
        return self


@dataclass
class Clip:
    """What one sample's generation produced (kept in the manifest)."""

    index: int
    part: str
    seq: str
    video: str
    music_id: str
    bpm: float
    genre: str
    dancer: int
    num_frames: int
    num_beats: int
    moves: list = field(default_factory=list)


def video_name(seq: str, camera: str = CAMERA) -> str:
    return seq.replace("_cAll_", f"_{camera}_")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *key]))


@dataclass
class ClipData:
    """One generated sample in memory (before writing)."""

    clip: Clip
    track: object  # music.Track
    motion: object  # motion.Motion (joints rounded to float32, exactly what is stored and rendered)
    maps: dict  # render_sequence output
    reference: np.ndarray  # (H, W, 3) uint8
    keypoints3d: np.ndarray  # (T, 17, 3) metres
    reference_keypoints: np.ndarray  # (17, 3) COCO-17 pixels + visibility of the reference image


def build_clip(cfg: SynthConfig, index: int) -> ClipData:
    """Generate sample ``index`` (0-based; train first, then test) in memory."""
    from evalkit.data.synth.motion import Dancer, choreograph, neutral_pose
    from evalkit.data.synth.music import beat_strength, synth_track
    from evalkit.data.synth.render import (
        Camera,
        Identity,
        coco17_points,
        render_sequence,
    )

    rng = _rng(cfg.seed, index)
    dancer_id = index // cfg.clips_per_dancer
    drng = _rng(cfg.seed, DANCER_STREAM, dancer_id)  # the same dancer looks and moves alike in every clip
    dancer, identity = Dancer.random(drng), Identity.random(drng)
    track = synth_track(rng, cfg.seconds, sample_rate=cfg.sample_rate)
    motion = choreograph(track.beats, track.positions, beat_strength(track), cfg.seconds, cfg.fps, dancer, rng,
                         period=60.0 / track.bpm, chords=track.chords if cfg.choreography == "harmony" else None)
    motion.joints = motion.joints.astype(np.float32).astype(np.float64)  # render exactly the joints stored
    camera = Camera.default(cfg.size)
    maps = render_sequence(motion.joints, identity, camera, maps=cfg.maps)
    ref = render_sequence(neutral_pose(dancer)[None], identity, camera, maps=("rgb",))
    music_id = f"m{track.genre}{index}"
    seq = f"g{track.genre}_sFM_cAll_d{dancer_id + 1:02d}_{music_id}_ch{index + 1:02d}"
    clip = Clip(index=index, part="train" if index < cfg.train else "test", seq=seq, video=video_name(seq),
                music_id=music_id, bpm=track.bpm, genre=track.genre, dancer=dancer_id + 1,
                num_frames=motion.num_frames, num_beats=len(track.beats), moves=list(motion.info["moves_per_bar"]))
    return ClipData(clip, track, motion, maps, ref["rgb"][0], coco17_points(motion.joints), ref["keypoints2d"][0])


def write_clip(data: ClipData, cfg: SynthConfig, out: Path) -> Clip:
    """Write one generated sample in the layout of the module docstring."""
    from evalkit.data.synth import store

    clip, track, motion, maps = data.clip, data.track, data.motion, data.maps
    seq, vid, T = clip.seq, clip.video, clip.num_frames
    store.write_wav(out / "music" / f"{clip.music_id}.wav", track.audio, track.sample_rate)
    (out / "music" / f"{clip.music_id}.beats").write_text(track.beats_text())
    store.write_pickle(out / "motions" / f"{seq}.pkl", {
        "smpl_poses": motion.poses.reshape(T, 72).astype(np.float32),
        "smpl_trans": (motion.trans * UNITS_PER_M).astype(np.float32),
        "smpl_scaling": np.array([UNITS_PER_M], dtype=np.float32),
        "smpl_loss": 0.0,
        "smpl_joints": motion.joints.astype(np.float32),
    })
    view = int(CAMERA[1:]) - 1
    kp2d = np.full((9, T, 17, 3), np.nan, dtype=np.float32)
    kp2d[view] = maps["keypoints2d"]
    det = np.zeros((9, T), dtype=np.float32)
    det[view] = 1.0
    store.write_pickle(out / "keypoints2d" / f"{seq}.pkl", {
        "keypoints2d": kp2d, "det_scores": det,
        "timestamps": np.round(np.arange(T) / cfg.fps * 1e6).astype(np.int64),
        "reference_keypoints2d": data.reference_keypoints.astype(np.float32),
    })
    kp3d = (data.keypoints3d * UNITS_PER_M).astype(np.float32)
    store.write_pickle(out / "keypoints3d" / f"{seq}.pkl", {"keypoints3d": kp3d, "keypoints3d_optim": kp3d})
    store.write_mp4(out / "videos" / f"{vid}.mp4", maps["rgb"], cfg.fps, cfg.lossless)
    for name in cfg.maps[1:]:
        if name in NPZ_MAPS:
            store.write_npz(out / "guidance" / name / f"{vid}.npz", **{name: maps[name]})
        else:
            store.write_mp4(out / "guidance" / name / f"{vid}.mp4", maps[name], cfg.fps, cfg.lossless)
    store.write_png(out / "reference" / f"{vid}.png", data.reference)
    return clip


def make_clip(cfg: SynthConfig, index: int, out: Path) -> Clip:
    return write_clip(build_clip(cfg, index), cfg, out)


def _camera_json(cfg: SynthConfig) -> list[dict]:
    from evalkit.data.synth.motion import matrices_to_rotvec
    from evalkit.data.synth.render import Camera

    cam = Camera.default(cfg.size)
    rot = cam.rotation()
    tvec = -rot @ np.asarray(cam.position, float) * UNITS_PER_M
    return [{
        "name": CAMERA, "size": [cfg.size, cfg.size],
        "matrix": [[cam.focal, 0.0, cam.center[0]], [0.0, cam.focal, cam.center[1]], [0.0, 0.0, 1.0]],
        "distortions": [0.0] * 5,
        "rotation": [float(v) for v in matrices_to_rotvec(rot[None])[0]],
        "translation": [float(v) for v in tvec],
    }]


def _job(args):
    cfg, index, out = args
    try:  # one thread per worker: the workers are the parallelism
        import torch

        torch.set_num_threads(1)
    except Exception:  # noqa: BLE001  torch is only used for a cast in the renderer
        pass
    return make_clip(cfg, index, Path(out))


def generate(out: str | Path, cfg: SynthConfig, jobs: int = 1, progress=None) -> dict:
    """Write ``cfg.train + cfg.test`` samples under ``out`` (created; must be empty). Returns the manifest."""
    cfg = cfg.check()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EvalkitError("output folder is not empty", path=out, hint="pass a new or empty --out folder")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _generate(out, cfg, jobs, progress)
    except BaseException:
        if created:  # never leave a half-written dataset behind in a folder we made
            shutil.rmtree(out, ignore_errors=True)
        raise


def _generate(out: Path, cfg: SynthConfig, jobs: int, progress) -> dict:
    from evalkit.version import __version__
    from evalkit.data.synth import store

    n = cfg.train + cfg.test
    work = [(cfg, i, str(out)) for i in range(n)]
    jobs = max(1, min(int(jobs or 1), n))
    clips: list[Clip] = []
    if jobs == 1:
        for w in work:
            clips.append(_job(w))
            if progress:
                progress(len(clips), n)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: torch's thread pools do not survive fork safely
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for clip in pool.map(_job, work):
                clips.append(clip)
                if progress:
                    progress(len(clips), n)
    for part in ("train", "test"):
        names = [c.seq for c in clips if c.part == part]
        (out / "splits").mkdir(exist_ok=True)
        (out / "splits" / f"crossmodal_{part}.txt").write_text("".join(f"{s}\n" for s in names))
    (out / "ignore_list.txt").write_text("")
    store.write_json(out / "cameras" / f"{SETTING}.json", _camera_json(cfg))
    (out / "cameras" / "mapping.txt").write_text("".join(f"{c.seq} {SETTING}\n" for c in clips))
    settings = asdict(cfg)
    settings["maps"] = list(cfg.maps)
    manifest = {"format": "sdgpip-1", "evalkit": __version__, "settings": settings, "camera": CAMERA,
                "units_3d": "cm", "clips": [asdict(c) for c in clips]}
    store.write_json(out / "sdgpip.json", manifest)
    return manifest


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))
