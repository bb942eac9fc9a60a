"""In-the-wild split: any folder of music videos.

Music: a sidecar audio file with the video's stem (in the folder or ``audio_dir``), else the video's own
audio stream. Reference image: ``reference`` (one image for all, or a folder of ``<stem>.png/.jpg``), else
an image beside the video with its stem, else the first frame (written once to the cache). Videos without
any music, or that cannot be opened, are left out and listed in ``split.skipped`` with the reason.
"""
from __future__ import annotations

from pathlib import Path

from evalkit.data.sample import Sample, first_frame_reference
from evalkit.errors import EvalkitError
from evalkit.io.audio import sidecar_for
from evalkit.io.video import IMAGE_EXTS, VIDEO_EXTS


class _NotAVideo(Exception):
    pass


def _probe(path: Path) -> dict:
    """Frame size, fps, frame count and whether there is an audio stream, from the container header and
    the first frame (no full decode)."""
    import av

    from evalkit.io.video import _stream_fps

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise _NotAVideo("has no video stream")
        stream = container.streams.video[0]
        first = next(container.decode(stream), None)
        if first is None:
            raise _NotAVideo("has zero frames")
        return {"size": (first.height, first.width), "fps": _stream_fps(stream), "frames": int(stream.frames),
                "has_audio": bool(container.streams.audio)}


def _count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)


class WildSplit:
    """Every video (mp4/mov/mkv/webm/avi) directly inside ``root``, sorted by name."""

    def __init__(self, root: str | Path, reference: str | Path | None = None, audio_dir: str | Path | None = None,
                 name: str = "wild"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise EvalkitError("folder does not exist", path=self.root, hint="pass a folder of music videos")
        self.reference = Path(reference) if reference else None
        if self.reference is not None and not self.reference.exists():
            raise EvalkitError("reference image or folder does not exist", path=self.reference)
        self.audio_dir = Path(audio_dir) if audio_dir else None
        if self.audio_dir is not None and not self.audio_dir.is_dir():
            raise EvalkitError("audio folder does not exist", path=self.audio_dir)
        self.name = name
        videos = sorted(p for p in self.root.iterdir()
                        if p.is_file() and p.suffix.lower() in VIDEO_EXTS and p.suffix.lower() != ".gif")
        if not videos:
            raise EvalkitError("folder holds no videos", path=self.root,
                               hint=f"expected {', '.join(e for e in VIDEO_EXTS if e != '.gif')}")
        self.skipped: dict[str, str] = {}
        self.problems: list[str] = []
        self._items: list[tuple[Path, dict, Path, str]] = []
        for video in videos:
            try:
                info = _probe(video)
            except Exception as err:  # PyAV raises many error types for corrupt input
                reason = str(err) if isinstance(err, _NotAVideo) else f"cannot be decoded ({type(err).__name__})"
                self.skipped[video.stem] = reason
                self.problems.append(f"{video}: {reason} — re-encode it or remove it")
                continue
            side = sidecar_for(video, self.audio_dir)
            if side is not None:
                music, source = side, "sidecar"
            elif info["has_audio"]:
                music, source = video, "container"
            else:
                self.skipped[video.stem] = "no music: no audio stream and no sidecar"
                self.problems.append(f"{video}: no audio stream and no sidecar audio — put {video.stem}.wav "
                                     "beside it (or in --audio DIR) or remove it")
                continue
            self._items.append((video, info, music, source))

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        for video, info, music, source in self._items:
            yield self._sample(video, info, music, source)

    def _reference_for(self, video: Path) -> tuple[Path | None, str]:
        if self.reference is not None:
            if self.reference.is_file():
                return self.reference, "given"
            for ext in IMAGE_EXTS:
                if (self.reference / f"{video.stem}{ext}").is_file():
                    return self.reference / f"{video.stem}{ext}", "given"
        for ext in IMAGE_EXTS:
            if (video.parent / f"{video.stem}{ext}").is_file():
                return video.parent / f"{video.stem}{ext}", "beside the video"
        return None, "first frame"

    def _sample(self, video: Path, info: dict, music: Path, source: str) -> Sample:
        ref, ref_from = self._reference_for(video)
        if ref is None:
            ref = first_frame_reference(video)
        frames = info["frames"] or _count_frames(video)  # container count when the header has it
        return Sample(id=video.stem, video=video, music=music, reference=ref, fps=info["fps"], num_frames=frames,
                      meta={"frame_size": info["size"], "audio_source": source, "reference_from": ref_from})

    def validate(self) -> list[str]:
        """Every problem: unreadable videos, videos without music, missing per-video reference images."""
        problems = list(self.problems)
        if self.reference is not None and self.reference.is_dir():
            for video, *_ in self._items:
                if self._reference_for(video)[1] != "given":
                    problems.append(f"{self.reference}: no reference image for {video.name} "
                                    f"(expected {video.stem}.png or .jpg)")
        return problems
