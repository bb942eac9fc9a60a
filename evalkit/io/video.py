"""Frame-accurate video decoding with PyAV: every frame, in stream order, as RGB24 uint8 (T, H, W, 3), decoded
on demand in chunks so that a video's length does not set the memory it takes (docs/memory.md).

Containers: mp4, mov, mkv, webm, avi, gif; or a folder of frame images (png/jpg/jpeg/bmp/webp, sorted by
name, fps from an ``fps.txt`` in the folder or the ``fps`` argument). The fps is read from the stream
(average frame rate), never assumed; a stream whose frame timestamps are not evenly spaced (variable frame
rate) is refused.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from evalkit.errors import EvalkitError

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

#: frames per chunk when a caller does not say (``Video.frames`` reads whole videos through it too)
DEFAULT_CHUNK = 16

#: how far one frame interval may stray from the stream's typical one before the stream counts as variable
#: frame rate: one time-base tick (containers round timestamps to their time base, e.g. 33/34 ms at 30 fps in
#: WebM) plus 2 % of the interval
VFR_TICKS, VFR_SHARE = 1, 0.02

Reader = Callable[[int], Iterator[np.ndarray]]


class Video:
    """One video: ``num_frames`` frames of ``size`` (height, width) at ``fps``. Frames come from an array in
    memory, or are decoded on demand: ``chunks(n)`` yields consecutive (≤ n, H, W, 3) arrays, ``frames`` the
    whole video at once (decoded once and kept — only for code that cannot stream)."""

    def __init__(self, frames: np.ndarray | None, fps: float, path, meta: dict | None = None, *,
                 reader: Reader | None = None, num_frames: int | None = None, size: tuple[int, int] | None = None):
        if frames is None and reader is None:
            raise ValueError("a Video needs frames or a reader")
        self._frames = None if frames is None else np.asarray(frames)
        self.fps = fps
        self.path = path
        self.meta = meta if meta is not None else {}
        self._reader = reader
        self._num_frames = int(self._frames.shape[0]) if self._frames is not None else int(num_frames)
        self._size = (int(self._frames.shape[1]), int(self._frames.shape[2])) if self._frames is not None else \
            (int(size[0]), int(size[1]))

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self._size

    @property
    def frames(self) -> np.ndarray:
        """Every frame at once (T, H, W, 3): the whole video in memory. Metrics stream through ``chunks``."""
        if self._frames is None:
            out = np.empty((self._num_frames, *self._size, 3), np.uint8)
            start = 0
            for chunk in self.chunks(DEFAULT_CHUNK):
                out[start:start + len(chunk)] = chunk
                start += len(chunk)
            self._frames = out
        return self._frames

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """Consecutive runs of at most ``size`` frames, in order, covering the video exactly once."""
        size = max(1, int(size))
        if self._frames is not None:
            for start in range(0, self._num_frames, size):
                yield self._frames[start:start + size]
            return
        left = self._num_frames
        for chunk in self._reader(size):
            if left <= 0:
                return
            chunk = chunk[:left]
            left -= len(chunk)
            yield chunk
        if left > 0:
            raise EvalkitError(f"decoded {self._num_frames - left} of {self._num_frames} frames on a second read",
                               path=self.path, hint="re-encode the video (it changed or is damaged)")

    def head(self, n: int) -> "Video":
        """The first ``n`` frames (lazy when this video is)."""
        if self._frames is not None:
            return Video(self._frames[:n], self.fps, self.path, self.meta)
        return Video(None, self.fps, self.path, self.meta, reader=self.chunks, num_frames=min(n, self._num_frames),
                     size=self._size)

    def mapped(self, fn: Callable[[np.ndarray], np.ndarray], size: tuple[int, int], meta: dict) -> "Video":
        """Every chunk passed through ``fn`` (a per-frame operation giving frames of ``size``), lazily."""
        if self._frames is not None:
            return Video(fn(self._frames), self.fps, self.path, meta)
        return Video(None, self.fps, self.path, meta, reader=lambda n: map(fn, self.chunks(n)),
                     num_frames=self._num_frames, size=size)


def is_video_path(path: Path) -> bool:
    path = Path(path)
    if path.is_dir():
        return any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir())
    return path.suffix.lower() in VIDEO_EXTS


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(Fraction(rate)) if rate else 0.0


def _decode_error(err: Exception, path: Path) -> EvalkitError:
    return EvalkitError(f"cannot decode ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})",
                        path=path, hint="re-encode it or remove it from the folder")


def decode_video(path: str | Path, fps: float | None = None) -> Video:
    """Open ``path`` (a container or a folder of frame images) for decoding on demand: one pass now counts the
    frames, reads their size and timestamps and meets any corrupt frame (one-line EvalkitError); frames are
    decoded again, chunk by chunk, as the metrics read them. ``fps`` is the rate of a frame folder without
    fps.txt; a container keeps its stream's rate (``fps`` is used only where it has none)."""
    path = Path(path)
    if path.is_dir():
        return _open_folder(path, fps)
    if not path.is_file():
        raise EvalkitError("no such video file", path=path)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise EvalkitError("has no video stream", path=path, hint="pass a video file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            count, size, stamps = 0, None, []
            for frame in container.decode(stream):  # decoded, not converted: the count is exact
                count += 1
                size = size or (frame.height, frame.width)
                stamps.append(frame.pts)
            rate = _stream_fps(stream)
            if path.suffix.lower() == ".gif" and count:
                rate = _gif_fps(container, stream) or rate
            meta = {"codec": stream.codec_context.name, "container": container.format.name}
            tick = float(stream.time_base) if stream.time_base else 0.0
    except EvalkitError:
        raise
    except Exception as err:  # PyAV raises many error types for corrupt input
        raise _decode_error(err, path) from None
    if not count:
        raise EvalkitError("has zero frames", path=path, hint="re-export the video or remove it")
    check_constant_rate(stamps, tick, path)
    # the container's own rate wins: ``fps`` (--fps) is for frame folders, and only fills in a missing rate
    return Video(None, rate or fps or 0.0, path, meta, reader=lambda n: _container_chunks(path, n, size),
                 num_frames=count, size=size)


def check_constant_rate(stamps: list, tick: float, path: Path) -> None:
    """Refuse a stream whose frame timestamps are not evenly spaced (variable frame rate): its frames would be
    taken as equally spaced, shifting every frame after the first irregular interval against the music and the
    other video. Intervals may differ from their median by one time-base tick and 2 %."""
    pts = [p for p in stamps if p is not None]
    if len(pts) < 3 or len(pts) < len(stamps) or not tick:
        return  # too few frames, or a stream without timestamps: nothing to tell a rate from
    steps = np.diff(np.sort(np.asarray(pts, dtype=np.int64)))
    typical = float(np.median(steps))
    worst = int(np.argmax(np.abs(steps - typical)))
    if abs(steps[worst] - typical) > VFR_TICKS + VFR_SHARE * typical:
        raise EvalkitError(f"variable frame rate (frame intervals {steps.min() * tick * 1e3:.1f}–"
                           f"{steps.max() * tick * 1e3:.1f} ms; frame {worst + 1} comes after "
                           f"{steps[worst] * tick * 1e3:.1f} ms, typical {typical * tick * 1e3:.1f} ms)", path=path,
                           hint="re-encode at a constant rate: ffmpeg -i IN -fps_mode cfr -r FPS OUT "
                                "(older ffmpeg: -vsync cfr)")


def _container_chunks(path: Path, size: int, frame_size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Decode ``path`` again into fresh (≤ size, H, W, 3) arrays, each filled in place (no list then stack:
    that held every chunk twice)."""
    import av

    chunk, filled = None, 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if chunk is None:
                    chunk = np.empty((size, *frame_size, 3), np.uint8)
                chunk[filled] = frame.to_ndarray(format="rgb24")
                filled += 1
                if filled == size:
                    yield chunk
                    chunk, filled = None, 0
    except Exception as err:
        raise _decode_error(err, path) from None
    if filled:
        yield chunk[:filled]


def _gif_fps(container, stream) -> float | None:
    # GIF frames carry their own durations; use the stream's time base mean duration when present.
    if stream.frames and container.duration:
        return stream.frames / (container.duration / 1e6)
    return None


def _open_folder(path: Path, fps: float | None) -> Video:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise EvalkitError("folder holds no frame images", path=path, hint=f"expected {', '.join(IMAGE_EXTS)}")
    if fps is None:
        fps_file = path / "fps.txt"
        if not fps_file.is_file():
            raise EvalkitError("frame folder without fps", path=path, hint="write its fps into fps.txt or pass --fps")
        fps = _read_fps_file(fps_file)
    shapes = {_read_image(f).shape for f in files}  # every image read once now: a bad one stops here
    if len(shapes) > 1:
        raise EvalkitError(f"frames differ in size {sorted(shapes)}", path=path, hint="resize them to one size")
    (height, width, _), = shapes
    return Video(None, float(fps), path, {"container": "frames"}, reader=lambda n: _folder_chunks(files, n),
                 num_frames=len(files), size=(height, width))


def _folder_chunks(files: list[Path], size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(files), size):
        yield np.stack([_read_image(f) for f in files[start:start + size]])


def _read_image(file: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(file) as im:
            return _rgb8(im)
    except EvalkitError:
        raise
    except Exception as err:
        raise EvalkitError(f"cannot read image ({err})", path=file, hint="replace or remove it") from None


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
