"""A split's sample and the interface every split loader implements."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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
    keypoints3d: (T, 17, 3) COCO-17 3D keypoints in metres (world, y up), if known.
    crop: (x0, y0, width, height) cut from each decoded frame before ``resize``; joints2d already refer to
        the cropped (and resized) frame. resize: side of the square output frame, or None.
    reference_joints2d: (17, 3) COCO-17 (x, y, conf) in pixels of the reference image, if known.
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
    keypoints3d: np.ndarray | None = None
    crop: tuple[int, int, int, int] | None = None
    resize: int | None = None
    reference_joints2d: np.ndarray | None = None

    def load_video(self):
        """The ground-truth video as evalkit.io.video.Video, with this sample's crop and resize applied."""
        from evalkit.io.video import Video, decode_video

        video = decode_video(self.video)  # a Video's frames are read-only (decoded on demand): a new one
        return Video(transform_frames(video.frames, self.crop, self.resize), video.fps, video.path, video.meta)

    def load_guidance(self, name: str) -> np.ndarray:
        """A guidance map: uint8 (T, H, W, 3) for colour maps (mp4), the stored array for npz maps
        (depth float16 (T, H, W), heatmap float16 (T, 17, H/4, W/4))."""
        from evalkit.errors import EvalkitError

        if name not in self.guidance:
            raise EvalkitError(f"sample {self.id} has no {name!r} guidance map",
                               hint=f"available: {', '.join(sorted(self.guidance)) or 'none'}")
        path = Path(self.guidance[name])
        if path.suffix == ".npz":
            from evalkit.data.synth.store import read_npz

            return read_npz(path, name)
        from evalkit.io.video import decode_video

        return decode_video(path).frames

    def pose_track(self):
        """joints2d as an evalkit.pose.PoseTrack (for keypoint metrics such as BeatAlign without a detector)."""
        from evalkit.errors import EvalkitError
        from evalkit.pose import PoseTrack

        if self.joints2d is None:
            raise EvalkitError(f"sample {self.id} has no 2D keypoints", path=self.video)
        kp = np.asarray(self.joints2d, dtype=np.float64)
        conf = np.nan_to_num(kp[..., 2].clip(0, 1))
        xy = np.where(np.isfinite(kp[..., :2]), kp[..., :2], np.nan)
        present = np.isfinite(xy).all(axis=-1).any(axis=-1) & (conf > 0).any(axis=-1)
        xy[~present] = np.nan
        conf[~present] = 0.0
        size = tuple(self.meta.get("frame_size", (0, 0)))
        return PoseTrack(joints=xy, conf=conf, present=present, fps=float(self.fps), size=size,
                         info={"backend": "annotation", "source": str(self.meta.get("keypoints2d_file", ""))})


def transform_frames(frames: np.ndarray, crop: tuple[int, int, int, int] | None, resize: int | None) -> np.ndarray:
    """Crop (x0, y0, w, h) then resize to a ``resize``² square (area filter down, bicubic up)."""
    if crop is not None:
        x0, y0, w, h = crop
        frames = frames[:, y0:y0 + h, x0:x0 + w]
    if resize is not None and frames.shape[1:3] != (resize, resize):
        import cv2

        interp = cv2.INTER_AREA if resize < frames.shape[1] else cv2.INTER_CUBIC
        frames = np.stack([cv2.resize(f, (resize, resize), interpolation=interp) for f in frames])
    return np.ascontiguousarray(frames)


def first_frame_reference(video: Path, crop: tuple[int, int, int, int] | None = None,
                          resize: int | None = None) -> Path:
    """The first frame of ``video`` (cropped/resized like the sample) as a PNG in the cache, made once;
    the file name carries a hash of the video's path, size, mtime and the transform."""
    import hashlib

    from evalkit.errors import EvalkitError
    from evalkit.paths import cache_dir

    video = Path(video)
    try:
        st = video.stat()
    except OSError:
        raise EvalkitError("no such video file", path=video) from None
    key = hashlib.sha256(repr((str(video.resolve()), st.st_size, st.st_mtime_ns, crop, resize)).encode()).hexdigest()
    out = cache_dir("data", "reference") / f"{video.stem}-{key[:16]}.png"
    if out.is_file():
        return out
    import av
    from PIL import Image

    try:
        with av.open(str(video)) as container:
            frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    except Exception as err:  # PyAV raises many error types for corrupt input
        raise EvalkitError(f"cannot decode the first frame ({type(err).__name__})", path=video,
                           hint="re-encode it or give a reference image") from None
    image = transform_frames(frame[None], crop, resize)[0]
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, out)  # atomic: concurrent callers never see half a file
    return out


class Split(Protocol):
    name: str  # e.g. "synth-test", "wild", "aistpp-test"
    skipped: dict[str, str]  # sample id -> why it is left out (ignore list, no audio …): counted, never silent

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Sample]: ...

    def validate(self) -> list[str]:
        """Every problem found (empty list: valid)."""
        ...
