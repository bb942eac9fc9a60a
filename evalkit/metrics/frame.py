"""Shared streaming state for per-frame paired metrics (SSIM, PSNR, L1, LPIPS).

Each frame of a pred/gt pair gives one value; a video's row is the mean over its frames; the headline
is the plain mean over all frames of all videos (the DisCo/JH convention), kept as a float64 sum and
count so that shards merge exactly.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from evalkit.errors import EvalkitError
from evalkit.metrics.base import Metric

CHUNK = 32  # frames per batch on a GPU: bounds memory at 512² and keeps batching benefits


def to_device(frames: np.ndarray, device: str) -> torch.Tensor:
    """uint8 frames to the device; through pinned memory (asynchronous copy) on CUDA."""
    t = torch.from_numpy(np.ascontiguousarray(frames))
    if str(device).startswith("cuda"):
        return t.pin_memory().to(device, non_blocking=True)
    return t


def abs_diff(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """|pred − gt| of uint8 frames, exact, still uint8 (a quarter of the memory traffic of int32)."""
    return torch.maximum(pred, gt) - torch.minimum(pred, gt)


class FrameMetric(Metric):
    needs = ("pred", "gt")
    streams = True
    #: frames per batch on the CPU (a GPU takes CHUNK): small enough to stay in cache (a 32-frame float64 map is
    #: 50 MB at 256²), large enough that each torch op is worth its threads' fork-join (measured at 256²)
    cpu_chunk: ClassVar[int] = 4
    #: peak working memory of ``frame_values`` per pixel of one frame pair, in bytes (measured on the CPU by
    #: benchmarks/memory.py --per-pixel, rounded up): sizes the batch within the memory budget's WORK_SHARE
    bytes_per_pixel: ClassVar[float] = 64.0

    def reset(self) -> None:
        self.add_state("total", 0.0)
        self.add_state("frames", 0.0)
        self.add_state("capped", 0.0)  # frames whose value hit a documented cap (PSNR 100 dB)

    def frame_values(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """Per-frame values (N,) float64 for uint8 (N,H,W,3) tensors on self.device."""
        raise NotImplementedError

    def min_frame_size(self) -> int:
        """The smallest frame height and width this metric's settings can score."""
        return 1

    def work_bytes_per_pixel(self) -> float:
        """``bytes_per_pixel`` for these settings (a network's depends on the backbone)."""
        return self.bytes_per_pixel

    def batch_frames(self, height: int, width: int) -> int:
        """Frame pairs per ``frame_values`` call: as many as the budget's WORK_SHARE holds at this size, at least
        one, at most ``cpu_chunk`` (CPU) or CHUNK (GPU). Batching changes no value (tested)."""
        from evalkit.memory import batch_frames

        cap = self.cpu_chunk if torch.device(self.device).type == "cpu" else CHUNK
        return batch_frames(self.runtime.memory_budget(), height * width, self.work_bytes_per_pixel(), cap)

    def check_input(self, item) -> None:
        height, width = item.pred.size
        least = self.min_frame_size()
        if min(height, width) < least:
            raise EvalkitError(f"{self.name} (preset {self.preset}) needs frames of at least {least}×{least} "
                               f"pixels, got {height}×{width}", path=item.pred.path,
                               hint=f"drop {self.name} from --metrics or score larger frames")

    def start_video(self, item) -> None:
        self._values: list[torch.Tensor] = []
        self._batch = self.batch_frames(*item.pred.size)

    def update_chunk(self, pred: np.ndarray, gt: np.ndarray) -> None:
        for start in range(0, len(pred), self._batch):
            p = to_device(pred[start:start + self._batch], self.device)
            g = to_device(gt[start:start + self._batch], self.device)
            self._values.append(self.frame_values(p, g).double().cpu())

    def finish_video(self) -> dict[str, float]:
        v = torch.cat(self._values).numpy()
        self._values = []
        self._state["total"] += v.sum()
        self._state["frames"] += len(v)
        return {self.name: float(v.mean())}

    def update(self, item) -> dict[str, float]:
        """One whole item, read chunk by chunk as the engine does (docs/memory.md)."""
        self.start_video(item)
        for pred, gt in item.chunks(item.chunk_frames(self.runtime.memory_budget())):
            self.update_chunk(pred, gt)
        return self.finish_video()

    def compute(self) -> dict[str, float]:
        n = self._state["frames"]
        return {self.name: float(self._state["total"] / n) if n else float("nan")}

    def counts(self) -> dict[str, int]:
        return {"frames": int(self._state["frames"]), "capped_frames": int(self._state["capped"])}
