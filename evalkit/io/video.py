"""Frame-accurate video decoding with PyAV: every frame, in stream order, as RGB24 uint8 (T, H, W, 3).

Containers: mp4, mov, mkv, webm, avi, gif; or a folder of frame images (png/jpg/jpeg/bmp/webp, sorted by
name, fps from an ``fps.txt`` in the folder or the ``fps`` argument). The fps is read from the stream
(average frame rate), never assumed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass
class Video:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float
    path: Path
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def is_video_path(path: Path) -> bool:
    path = Path(path)
    if path.is_dir():
        return any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir())
    return path.suffix.lower() in VIDEO_EXTS


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(Fraction(rate)) if rate else 0.0


def decode_video(path: str | Path, fps: float | None = None) -> Video:
    """Decode every frame of ``path`` (a container or a folder of frame images). ``fps`` is the rate of a frame
    folder without fps.txt; a container keeps its stream's rate (``fps`` is used only where it has none)."""
    path = Path(path)
    if path.is_dir():
        return _decode_folder(path, fps)
    if not path.is_file():
        raise EvalkitError("no such video file", path=path)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise EvalkitError("has no video stream", path=path, hint="pass a video file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            rate = _stream_fps(stream)
            if path.suffix.lower() == ".gif" and frames:
                rate = _gif_fps(container, stream) or rate
            meta = {"codec": stream.codec_context.name, "container": container.format.name}
    except EvalkitError:
        raise
    except Exception as err:  # PyAV raises many error types for corrupt input
        raise EvalkitError(f"cannot decode ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})",
                           path=path, hint="re-encode it or remove it from the folder") from None
    if not frames:
        raise EvalkitError("has zero frames", path=path, hint="re-export the video or remove it")
    # the container's own rate wins: ``fps`` (--fps) is for frame folders, and only fills in a missing rate
    return Video(np.stack(frames), rate or fps or 0.0, path, meta)


def _gif_fps(container, stream) -> float | None:
    # GIF frames carry their own durations; use the stream's time base mean duration when present.
    if stream.frames and container.duration:
        return stream.frames / (container.duration / 1e6)
    return None


def _decode_folder(path: Path, fps: float | None) -> Video:
    from PIL import Image

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise EvalkitError("folder holds no frame images", path=path, hint=f"expected {', '.join(IMAGE_EXTS)}")
    if fps is None:
        fps_file = path / "fps.txt"
        if not fps_file.is_file():
            raise EvalkitError("frame folder without fps", path=path, hint="write its fps into fps.txt or pass --fps")
        fps = _read_fps_file(fps_file)
    frames = []
    for f in files:
        try:
            with Image.open(f) as im:
                frames.append(_rgb8(im))
        except Exception as err:
            raise EvalkitError(f"cannot read image ({err})", path=f, hint="replace or remove it") from None
    shapes = {fr.shape for fr in frames}
    if len(shapes) > 1:
        raise EvalkitError(f"frames differ in size {sorted(shapes)}", path=path, hint="resize them to one size")
    return Video(np.stack(frames), float(fps), path, {"container": "frames"})


def _read_fps_file(fps_file: Path) -> float:
    text = fps_file.read_text(errors="replace").strip()
    try:
        fps = float(text)
    except ValueError:
        fps = float("nan")
    if not np.isfinite(fps) or fps <= 0:
        raise EvalkitError(f"fps.txt holds {text[:20]!r}, not a positive number", path=fps_file,
                           hint="write the frame rate alone, e.g. 24, or pass --fps")
    return fps


def _rgb8(im) -> np.ndarray:
    """An image as RGB uint8. PIL's convert("RGB") clips 16-bit greyscale (mode I;16, I) at 255 instead of
    scaling it, so those frames are scaled here: 0..65535 -> 0..255 with rounding (v * 255 / 65535)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(im, dtype=np.float64)
        if values.size and (values.max() > 65535 or values.min() < 0):  # mode I can hold 32-bit values
            raise EvalkitError("32-bit integer frames are not supported", path=getattr(im, "filename", None),
                               hint="export 8- or 16-bit PNG frames")
        grey = np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def write_video(path: str | Path, frames: np.ndarray, fps: float, audio: np.ndarray | None = None,
                sample_rate: int | None = None, crf: int = 18) -> Path:
    """Write uint8 RGB frames (T,H,W,3) as H.264 mp4 (yuv420p; even sizes), optionally with mono/stereo float audio (AAC)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames, dtype=np.uint8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height = frames.shape[2], frames.shape[1]
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        a_stream = None
        if audio is not None:
            a_stream = out.add_stream("aac", rate=int(sample_rate))
            a_stream.layout = "mono" if audio.ndim == 1 else "stereo"
        for fr in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if a_stream is not None:
            samples = np.asarray(audio, dtype=np.float32)
            samples = samples[None, :] if samples.ndim == 1 else samples.T.copy()
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp",
                                               layout=a_stream.layout.name)
            frame.sample_rate = int(sample_rate)
            for packet in a_stream.encode(frame):
                out.mux(packet)
            for packet in a_stream.encode():
                out.mux(packet)
    return path
