"""``evalkit stats make DIR --protocol P --out FILE.npz``: reference FVD statistics of a video folder.

Videos are decoded (and, for the CPU-only Pillow kernel, resized) in worker processes while the main
process runs I3D; cached features skip decoding altogether. The file holds the running sums of one
side (features, outer products, bootstrap replicates) and the protocol; ``evalkit score --gt-stats``
reuses it instead of the ground-truth videos.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from evalkit.errors import EvalkitError


class VideoFiles:
    """Decodes one video per item (in a DataLoader worker); a cache hit is returned without decoding. A map-style
    dataset by protocol (``__len__``/``__getitem__``), so that importing the CLI does not import torch."""

    def __init__(self, paths: list[Path], kernel: str, cache=None, fps: float | None = None):
        self.paths, self.kernel, self.cache, self.fps = list(paths), kernel, cache, fps

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        from evalkit.features.cache import file_digest, frames_digest
        from evalkit.features.resize import prepare_frames
        from evalkit.io.video import decode_video

        path = self.paths[i]
        try:
            content_id = file_digest(path)
            if self.cache is not None and content_id:
                entry = self.cache.get(content_id)
                if entry is not None:
                    return {"path": str(path), "content_id": content_id, "entry": entry}
            frames = decode_video(path, self.fps).frames
            out = {"path": str(path), "content_id": content_id or frames_digest(frames),
                   "shape": np.array(frames.shape[:3])}
            if self.kernel == "pil-bicubic":  # Pillow runs on the CPU: do it here, in parallel
                out["prepared"] = prepare_frames(frames, self.kernel)
            else:
                import torch

                out["frames"] = torch.from_numpy(frames)
            return out
        except EvalkitError as err:
            return {"path": str(path), "error": str(err)}


def _worker_init(_):
    import torch

    torch.set_num_threads(1)


def feed_videos(metric, paths: list[Path], side: str = "gt", workers: int = 2, fps: float | None = None,
                progress=None) -> None:
    """Add every video of ``paths`` to one side of an FVD metric, decoding in ``workers`` processes."""
    import torch

    from evalkit.features.i3d_pipeline import feature_cache

    cuda = torch.device(metric.device).type == "cuda"
    cache = feature_cache(metric.settings["cache"], metric.extractor_info(), metric.feature_settings(side))
    data = VideoFiles(paths, metric.settings["resize"], cache, fps)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=workers, pin_memory=cuda,
                                         worker_init_fn=_worker_init if workers else None,
                                         prefetch_factor=4 if workers else None)
    for item in loader:
        if "error" in item:
            raise EvalkitError(item["error"])
        if "entry" in item:
            metric.add_cached(side, {k: np.asarray(v) for k, v in item["entry"].items()})
        else:
            shape = tuple(int(v) for v in item["shape"])
            metric.add_video(side, item.get("frames"), item["content_id"], shape=shape, prepared=item.get("prepared"))
        if progress:
            progress(item["path"])
    metric._flush()


def make_stats(directory: Path, protocol: str, out: Path, device: str = "cpu", precision: str = "fp32",
               batch_size: int = 16, workers: int = 2, bootstrap: int = 100, cache: bool = True,
               fps: float | None = None, progress=None) -> dict:
    from evalkit.io.pairing import list_videos
    from evalkit.metrics.fvd import FVD
    from evalkit.metrics.fvd_stats import save_stats

    paths = list(list_videos(Path(directory)).values())
    if not paths:
        raise EvalkitError("no videos found", path=directory, hint="expected video files or frame folders")
    metric = FVD(protocol, device=device, precision=precision, batch_size=batch_size, bootstrap=bootstrap,
                 cache=cache)
    feed_videos(metric, paths, "gt", workers, fps, progress)
    if metric.num_clips("gt") == 0:
        raise EvalkitError(f"none of the {len(paths)} videos is long enough for protocol '{protocol}'", path=directory)
    save_stats(out, metric, "gt", source={"directory": str(directory), "videos": len(paths)})
    return {"videos": len(paths), "clips": metric.num_clips("gt"), **metric.side_counts("gt")}


def register(app: typer.Typer) -> None:
    stats = typer.Typer(help="Reference statistics for FVD.", no_args_is_help=True)

    @stats.command("make")
    def make_cmd(
        directory: Path = typer.Argument(..., help="Folder of reference (ground-truth) videos."),
        protocol: str = typer.Option("tf", "--protocol", help="tf | stylegan-v | disco | jh"),
        out: Path = typer.Option(..., "--out", help="Statistics file to write (.npz)."),
        device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N"),
        precision: str = typer.Option("fp32", "--precision", help="fp32 (reference) | bf16 (faster, non-reference)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Clips per I3D batch."),
        workers: int = typer.Option(2, "--workers", "-j", help="Decoding worker processes (0: decode in-process)."),
        bootstrap: int = typer.Option(100, "--bootstrap", help="Bootstrap replicates (must match the scoring run)."),
        cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse and store per-video features."),
        fps: Optional[float] = typer.Option(None, "--fps", help="fps of frame folders without fps.txt."),
    ):
        """Compute FVD reference statistics of the videos under DIRECTORY."""
        from evalkit.metrics.fvd import FVD

        if protocol not in FVD.presets:
            raise EvalkitError(f"unknown protocol '{protocol}'", hint=f"choose one of: {', '.join(FVD.presets)}")
        info = make_stats(directory, protocol, out, device, precision, batch_size, workers, bootstrap, cache, fps)
        typer.echo(f"wrote {out}: {info['clips']} clips from {int(info['videos'])} videos "
                   f"({int(info['short'])} too short for '{protocol}', {int(info['cached'])} from the feature cache)")

    app.add_typer(stats, name="stats")
