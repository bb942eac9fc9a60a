"""AIST++ (and SDGPip output, which uses its layout): the crossmodal train/val/test splits.

Root layout (the annotation folders may also sit in ``ROOT/annotations``)::

    motions/ keypoints2d/ keypoints3d/ cameras/ splits/ ignore_list.txt   AIST++ annotations, names with cAll
    videos/<name with the camera id>.mp4    AIST Dance DB videos, e.g. gBR_sBM_c09_d04_mBR0_ch01.mp4
    music/<music id>.wav                    AIST music, e.g. mBR0.wav

Samples use one camera (c09, as the paper), at the annotations' 60 fps, and the centre 640×640 crop of the
1920×1080 frames (the crop side is capped by the frame size, so 256² synthetic frames are left whole),
optionally resized. 2D keypoints are mapped into the cropped/resized frame (pixel centres kept aligned).
Sequences in ``ignore_list.txt`` are left out and listed in ``split.skipped``.

Pickles are read with the numpy-only unpickler, so a dataset file can never run code.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from evalkit.data.sample import Sample, first_frame_reference
from evalkit.errors import EvalkitError
from evalkit.io.audio import AUDIO_EXTS

VIEWS = tuple(f"c{i:02d}" for i in range(1, 10))
PARTS = ("train", "val", "test")
AIST_FPS = 60.0
ANNOTATION_DIRS = ("motions", "keypoints2d", "keypoints3d", "cameras", "splits")
NAME_RE = re.compile(r"^g(?P<genre>[A-Z]{2})_s(?P<situation>[A-Z]{2})_c(?P<camera>All|\d{2})_d(?P<dancer>\d{2,})"
                     r"_(?P<music>m[A-Z]{2}\d+)_ch(?P<choreo>\d{2,})$")
GUIDANCE_EXTS = (".mp4", ".npz")
UNITS_PER_M = 100.0  # AIST++ 3D keypoints are in centimetres


def parse_name(name: str) -> dict | None:
    m = NAME_RE.match(name)
    return m.groupdict() if m else None


def read_list(path: Path) -> list[str]:
    """Names from a split or ignore list (one per line; extensions such as .json/.pkl dropped)."""
    names = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:  # a binary or mis-encoded list: one line, never a traceback
        raise EvalkitError(f"is not UTF-8 text (byte {err.start}: {err.object[err.start:err.start + 1]!r})",
                           path=path, hint="save the list as UTF-8, one name per line") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(re.sub(r"\.(json|pkl|npy|mp4)$", "", line))
    return names


def load_pickle(path: Path) -> dict:
    from evalkit.weights.unpickle import loads_numpy_only

    try:
        data = loads_numpy_only(Path(path).read_bytes())
    except FileNotFoundError:
        raise EvalkitError("file is missing", path=path) from None
    except Exception as err:
        raise EvalkitError(f"unreadable pickle ({type(err).__name__}: {err})", path=path,
                           hint="re-download or regenerate it") from None
    if not isinstance(data, dict):
        raise EvalkitError(f"expected a dict, found {type(data).__name__}", path=path)
    return data


def _split_file(splits: Path, part: str) -> Path | None:
    for name in (f"crossmodal_{part}.txt", f"EDGE_crossmodal_{part}.txt"):
        if (splits / name).is_file():
            return splits / name
    return None


class AistSplit:
    """One crossmodal part of an AIST++-layout root. Construction checks the layout (every missing
    folder or list named in one error); :meth:`validate` checks every file."""

    def __init__(self, root: str | Path, part: str = "test", camera: str = "c09", crop: int | None = 640,
                 resize: int | None = None, fps: float | None = None, videos: str | Path | None = None,
                 music: str | Path | None = None, ids: list[str] | None = None, name: str | None = None):
        self.root = Path(root)
        if part not in PARTS:
            raise EvalkitError(f"unknown part {part!r}", hint=f"choose one of {', '.join(PARTS)}")
        if camera not in VIEWS:
            raise EvalkitError(f"unknown camera {camera!r}", hint=f"choose one of {', '.join(VIEWS)}")
        if resize is not None and resize < 8:
            raise EvalkitError(f"resize must be at least 8 pixels, got {resize}")
        self.part, self.camera, self.crop_side, self.resize = part, camera, crop, resize
        self.anno = self.root / "annotations" if (self.root / "annotations").is_dir() else self.root
        self.video_dir = Path(videos) if videos else self.root / "videos"
        self.music_dir = Path(music) if music else self.root / "music"
        problems = self._layout_problems()
        if problems:
            raise EvalkitError(f"not a usable AIST++ root ({len(problems)} problem(s)): " + "; ".join(problems),
                               path=self.root, hint="see `evalkit data validate ROOT`")
        self.manifest = self._manifest()
        self.fps = float(fps or self.manifest.get("settings", {}).get("fps") or AIST_FPS)
        self.name = name or f"{'synth' if self.manifest else 'aistpp'}-{part}"
        ignored = set(read_list(self.anno / "ignore_list.txt")) if (self.anno / "ignore_list.txt").is_file() else set()
        listed = read_list(_split_file(self.anno / "splits", part))
        self.skipped = {n: "in ignore_list.txt" for n in listed if n in ignored}
        self.names = [n for n in listed if n not in ignored]
        if ids is not None:
            unknown = [i for i in ids if i not in self.names]
            if unknown:
                raise EvalkitError(f"{len(unknown)} id(s) not in the {part} split list: {', '.join(unknown[:10])}"
                                   + (" …" if len(unknown) > 10 else ""), path=self.root)
            self.names = [n for n in self.names if n in set(ids)]
        self._settings = self._mapping()

    # ------------------------------------------------------------------------------------------ layout
    def _layout_problems(self) -> list[str]:
        problems = []
        if not self.root.is_dir():
            return [f"{self.root}: folder does not exist"]
        for d in ANNOTATION_DIRS:
            if not (self.anno / d).is_dir():
                problems.append(f"{self.anno / d}: missing folder")
        if (self.anno / "splits").is_dir() and _split_file(self.anno / "splits", self.part) is None:
            problems.append(f"{self.anno / 'splits'}: no crossmodal_{self.part}.txt")
        if (self.anno / "cameras").is_dir() and not (self.anno / "cameras" / "mapping.txt").is_file():
            problems.append(f"{self.anno / 'cameras' / 'mapping.txt'}: missing (sequence → camera setting)")
        for d, what in ((self.video_dir, "videos"), (self.music_dir, "music")):
            if not d.is_dir():
                problems.append(f"{d}: missing {what} folder")
        return problems

    def _manifest(self) -> dict:
        path = self.root / "sdgpip.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise EvalkitError(f"unreadable SDGPip manifest ({err})", path=path, hint="regenerate the dataset") from None

    def _mapping(self) -> dict[str, str]:
        out = {}
        for line in (self.anno / "cameras" / "mapping.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out[parts[0]] = parts[1]
        return out

    # ------------------------------------------------------------------------------------------ files
    def video_path(self, seq: str) -> Path:
        return self.video_dir / f"{seq.replace('_cAll_', f'_{self.camera}_')}.mp4"

    def music_path(self, seq: str) -> Path:
        music_id = parse_name(seq)["music"]
        for ext in AUDIO_EXTS:
            if (self.music_dir / f"{music_id}{ext}").is_file():
                return self.music_dir / f"{music_id}{ext}"
        raise EvalkitError(f"music for {seq} is missing", path=self.music_dir / f"{music_id}.wav",
                           hint="put the AIST music wavs (named by music id) in the music folder")

    def camera_params(self, seq: str) -> dict:
        setting = self._settings.get(seq)
        if setting is None:
            raise EvalkitError(f"{seq} is not in cameras/mapping.txt", path=self.anno / "cameras" / "mapping.txt")
        path = self.anno / "cameras" / f"{setting}.json"
        try:
            cams = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise EvalkitError(f"unreadable camera file ({type(err).__name__})", path=path) from None
        for cam in cams:
            if cam.get("name") == self.camera:
                return cam
        raise EvalkitError(f"has no camera {self.camera}", path=path)

    def crop_box(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """(x0, y0, w, h) of the centre square crop for a (width, height) frame; None when it is the whole frame."""
        w, h = frame_size
        if self.crop_side is None:
            return None
        side = min(self.crop_side, w, h)
        if side == w and side == h:
            return None
        return ((w - side) // 2, (h - side) // 2, side, side)

    # ------------------------------------------------------------------------------------------ samples
    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        for seq in self.names:
            yield self.sample(seq)

    def sample(self, seq: str) -> Sample:
        info = parse_name(seq)
        if info is None:
            raise EvalkitError(f"{seq!r} is not an AIST++ sequence name (gXX_sXX_cAll_dNN_mXXN_chNN)",
                               path=_split_file(self.anno / "splits", self.part))
        cam = self.camera_params(seq)
        width, height = (int(v) for v in cam["size"])
        crop = self.crop_box((width, height))
        side = crop[2] if crop else width
        out_size = self.resize or side
        scale = out_size / side

        kp_file = self.anno / "keypoints2d" / f"{seq}.pkl"
        kp_data = load_pickle(kp_file)
        kp = _view(kp_data, kp_file, self.camera)
        joints2d = kp.astype(np.float64)
        ref_joints = kp_data.get("reference_keypoints2d")  # SDGPip's reference image (same camera and crop)
        ref_joints = None if ref_joints is None else np.asarray(ref_joints, np.float64).reshape(17, 3)
        if crop is not None or scale != 1.0:
            x0, y0 = (crop[0], crop[1]) if crop else (0, 0)
            for arr in (joints2d, ref_joints):
                if arr is not None:
                    arr[..., 0] = (arr[..., 0] - x0 + 0.5) * scale - 0.5
                    arr[..., 1] = (arr[..., 1] - y0 + 0.5) * scale - 0.5
        k3_file = self.anno / "keypoints3d" / f"{seq}.pkl"
        k3 = load_pickle(k3_file)
        key = "keypoints3d_optim" if "keypoints3d_optim" in k3 else "keypoints3d"
        if key not in k3:
            raise EvalkitError("has no 'keypoints3d'", path=k3_file)
        keypoints3d = np.asarray(k3[key], dtype=np.float64) / UNITS_PER_M
        motion_file = self.anno / "motions" / f"{seq}.pkl"
        motion = load_pickle(motion_file)
        joints3d = np.asarray(motion["smpl_joints"], dtype=np.float64) if "smpl_joints" in motion else None

        vid = self.video_path(seq)
        if not vid.is_file():
            raise EvalkitError(f"video for {seq} is missing", path=vid,
                               hint=f"put the AIST Dance DB videos of camera {self.camera} in the videos folder")
        beats = None
        music = self.music_path(seq)
        beat_file = music.with_suffix(".beats")
        if beat_file.is_file():
            from evalkit.data.synth.music import parse_beats

            beats = parse_beats(beat_file.read_text())[0]
        guidance = {}
        gdir = self.root / "guidance"
        if gdir.is_dir():
            for mapdir in sorted(p for p in gdir.iterdir() if p.is_dir()):
                for ext in GUIDANCE_EXTS:
                    if (mapdir / f"{vid.stem}{ext}").is_file():
                        guidance[mapdir.name] = mapdir / f"{vid.stem}{ext}"
        ref = self.root / "reference" / f"{vid.stem}.png"
        if not ref.is_file():
            ref = first_frame_reference(vid, crop, self.resize)  # AIST++ has none: the first frame
            ref_joints = joints2d[0].copy()
        meta = {"seq": seq, "camera": self.camera, "music_id": info["music"], "genre": info["genre"],
                "dancer": info["dancer"], "frame_size": (out_size, out_size), "source_size": (height, width),
                "keypoints2d_file": str(kp_file), "motion_file": str(motion_file), "part": self.part,
                "reference_from": "reference/" if ref.parent == self.root / "reference" else "first frame"}
        return Sample(id=vid.stem, video=vid, music=music, reference=ref, fps=self.fps, num_frames=int(kp.shape[0]),
                      joints2d=joints2d, joints3d=joints3d, guidance=guidance, beats=beats, meta=meta,
                      keypoints3d=keypoints3d, crop=crop, resize=self.resize if scale != 1.0 else None,
                      reference_joints2d=ref_joints)

    # ------------------------------------------------------------------------------------------ validation
    def validate(self, parts: tuple[str, ...] | None = None) -> list[str]:
        """Every problem in the root, for the listed parts (default: every part that has a list)."""
        return validate_root(self.root, camera=self.camera, parts=parts, videos=self.video_dir, music=self.music_dir)


def _view(data: dict, path: Path, camera: str) -> np.ndarray:
    if "keypoints2d" not in data:
        raise EvalkitError("has no 'keypoints2d'", path=path)
    kp = np.asarray(data["keypoints2d"])
    if kp.ndim != 4 or kp.shape[0] != len(VIEWS) or kp.shape[2:] != (17, 3):
        raise EvalkitError(f"keypoints2d has shape {kp.shape}, expected (9 views, T, 17, 3)", path=path)
    return kp[VIEWS.index(camera)]


def _probe_video(path: Path) -> tuple[int | None, str | None]:
    """(frame count from the container or None, problem or None) without decoding the whole file."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None, "has no video stream"
            stream = container.streams.video[0]
            next(container.decode(stream))
            return (int(stream.frames) or None), None
    except StopIteration:
        return None, "has zero frames"
    except Exception as err:  # PyAV raises many error types for corrupt input
        return None, f"cannot be decoded ({type(err).__name__})"


def _probe_audio(path: Path) -> str | None:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return "has no audio stream"
            next(container.decode(container.streams.audio[0]))
    except StopIteration:
        return "audio stream is empty"
    except Exception as err:
        return f"cannot be decoded ({type(err).__name__})"
    return None


def validate_root(root: str | Path, camera: str = "c09", parts: tuple[str, ...] | None = None,
                  videos: str | Path | None = None, music: str | Path | None = None) -> list[str]:
    """Every problem of an AIST++-layout root as 'path: what is wrong' lines (empty list: valid):
    missing folders and lists, malformed or duplicate names, sequences listed without their annotation,
    video or music files, unreadable or inconsistent files, and annotation files named in no split list."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: folder does not exist"]
    anno = root / "annotations" if (root / "annotations").is_dir() else root
    video_dir = Path(videos) if videos else root / "videos"
    music_dir = Path(music) if music else root / "music"
    problems = [f"{anno / d}: missing folder" for d in ANNOTATION_DIRS if not (anno / d).is_dir()]
    problems += [f"{d}: missing folder" for d in (video_dir, music_dir) if not d.is_dir()]
    splits = anno / "splits"
    lists: dict[str, list[str]] = {}
    if splits.is_dir():
        for part in parts or PARTS:
            f = _split_file(splits, part)
            if f is not None:
                lists[part] = read_list(f)
            elif parts:
                problems.append(f"{splits}: no crossmodal_{part}.txt")
        if not lists and not parts:
            problems.append(f"{splits}: no crossmodal_{{train,val,test}}.txt list")
    all_listed: set[str] = set()
    if splits.is_dir():
        for f in sorted(splits.glob("*.txt")):
            all_listed.update(read_list(f))
    ignored = set(read_list(anno / "ignore_list.txt")) if (anno / "ignore_list.txt").is_file() else set()
    mapping: dict[str, str] = {}
    mapping_file = anno / "cameras" / "mapping.txt"
    if (anno / "cameras").is_dir():
        if mapping_file.is_file():
            for line in mapping_file.read_text().splitlines():
                p = line.split()
                if len(p) == 2:
                    mapping[p[0]] = p[1]
                elif p:
                    problems.append(f"{mapping_file}: malformed line {line!r} (expected 'sequence setting')")
        else:
            problems.append(f"{mapping_file}: missing (sequence → camera setting)")
    cameras_ok: dict[str, str | None] = {}
    audio_ok: dict[Path, str | None] = {}  # music is shared by many sequences: probe each file once

    for part, names in lists.items():
        list_file = _split_file(splits, part)
        seen = set()
        for seq in names:
            if seq in seen:
                problems.append(f"{list_file}: {seq} listed twice")
                continue
            seen.add(seq)
            if seq in ignored:
                continue
            info = parse_name(seq)
            if info is None:
                problems.append(f"{list_file}: {seq!r} is not an AIST++ sequence name (gXX_sXX_cAll_dNN_mXXN_chNN)")
                continue
            problems += _check_sequence(anno, seq, camera, video_dir, music_dir, info, mapping, cameras_ok, audio_ok)
    for d in ("motions", "keypoints2d", "keypoints3d"):
        if (anno / d).is_dir():
            stray = sorted(p.stem for p in (anno / d).glob("*.pkl") if p.stem not in all_listed | ignored)
            if stray:
                problems.append(f"{anno / d}: {len(stray)} file(s) named in no split list: "
                                + ", ".join(stray[:5]) + (" …" if len(stray) > 5 else ""))
    return problems


def _check_sequence(anno, seq, camera, video_dir, music_dir, info, mapping, cameras_ok, audio_ok) -> list[str]:
    problems = []
    lengths = {}
    for d in ("motions", "keypoints2d", "keypoints3d"):
        path = anno / d / f"{seq}.pkl"
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        try:
            data = load_pickle(path)
            if d == "keypoints2d":
                lengths[d] = _view(data, path, camera).shape[0]
            elif d == "keypoints3d":
                k = np.asarray(data.get("keypoints3d_optim", data.get("keypoints3d")))
                if k.ndim != 3 or k.shape[1:] != (17, 3):
                    raise EvalkitError(f"keypoints3d has shape {k.shape}, expected (T, 17, 3)", path=path)
                lengths[d] = k.shape[0]
            else:
                if "smpl_poses" not in data or "smpl_trans" not in data:
                    raise EvalkitError("has no smpl_poses/smpl_trans", path=path)
                lengths[d] = len(np.asarray(data["smpl_poses"]))
        except EvalkitError as err:
            problems.append(str(err))
    if len(set(lengths.values())) > 1:
        problems.append(f"{seq}: annotations disagree on the frame count ({lengths})")
    setting = mapping.get(seq)
    if mapping and setting is None:
        problems.append(f"{anno / 'cameras' / 'mapping.txt'}: {seq} has no camera setting")
    elif setting is not None:
        if setting not in cameras_ok:
            path = anno / "cameras" / f"{setting}.json"
            try:
                names = [c.get("name") for c in json.loads(path.read_text())]
                cameras_ok[setting] = None if camera in names else f"{path}: has no camera {camera}"
            except (OSError, ValueError) as err:
                cameras_ok[setting] = f"{path}: missing or unreadable ({type(err).__name__})"
        if cameras_ok[setting]:
            problems.append(cameras_ok[setting])
    video = video_dir / f"{seq.replace('_cAll_', f'_{camera}_')}.mp4"
    if video_dir.is_dir():
        if not video.is_file():
            problems.append(f"{video}: missing video")
        else:
            frames, issue = _probe_video(video)
            if issue:
                problems.append(f"{video}: {issue}")
            elif frames and "keypoints2d" in lengths and abs(frames - lengths["keypoints2d"]) > 1:
                problems.append(f"{video}: {frames} frames but keypoints2d has {lengths['keypoints2d']}")
    if music_dir.is_dir():
        cands = [music_dir / f"{info['music']}{ext}" for ext in AUDIO_EXTS]
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            problems.append(f"{music_dir / (info['music'] + '.wav')}: missing music")
        else:
            if found not in audio_ok:
                audio_ok[found] = _probe_audio(found)
                issue = audio_ok[found]
            else:
                issue = None  # reported once, at its first sequence
            if issue:
                problems.append(f"{found}: {issue}")
    return problems
