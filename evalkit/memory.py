"""The memory budget a scoring process keeps to (docs/memory.md): ``--max-memory``, else half of the RAM
available when it starts (``MemAvailable`` in /proc/meminfo).

The budget bounds what grows with the video's size and the batch, never with its length: each chunk of decoded
frame pairs takes at most ``DECODE_SHARE`` of it, and each metric's working batch (a network's activations, SSIM's
float64 maps) at most ``WORK_SHARE``; the rest is left to the loaded networks and the interpreter. A chunk or a
batch holds at least one frame, so a frame larger than its share still scores (at one frame a batch).
"""
from __future__ import annotations

import os
import re

from evalkit.errors import EvalkitError

DECODE_SHARE = 1 / 8
WORK_SHARE = 1 / 2
#: most frames a decoded chunk holds, and most pixels of one side: larger chunks decode no faster, and only delay
#: the first metric's work (8 frames a side at 1080p: 100 MB a pair chunk)
MAX_CHUNK, MAX_CHUNK_PIXELS = 32, 2**24
#: most pixels of one side a metric batch holds: one 1080p frame already keeps a CPU's threads busy, so larger
#: batches add memory, not speed (batches of small frames stay as the metric's ``cpu_chunk`` makes them)
MAX_BATCH_PIXELS = 2**21 + 2**20
#: share of the available RAM taken as the budget when none is given
AUTO_SHARE = 0.5
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str | int | float) -> int:
    """``4G``, ``512M``, ``1.5g``, ``300000000`` (bytes) -> bytes; one-line EvalkitError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    value = float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0
    if value < 2**26:  # below 64 MiB not even one network loads
        raise EvalkitError(f"bad --max-memory {text!r}", hint="give a size of 64M or more, e.g. 4G or 512M")
    return int(value)


def available_bytes() -> int:
    """RAM the kernel says is available now (MemAvailable), else the physical RAM."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def budget_bytes(max_memory: int | None) -> int:
    """The budget in bytes: the given one, else AUTO_SHARE of the RAM available now."""
    return int(max_memory) if max_memory else int(AUTO_SHARE * available_bytes())


def frames_within(share_bytes: float, bytes_per_frame: float, cap: int) -> int:
    """How many frames of ``bytes_per_frame`` fit ``share_bytes``: at least 1, at most ``cap``."""
    return int(max(1, min(cap, share_bytes // max(bytes_per_frame, 1))))


def chunk_frames(budget: int, pixels: int, sides: int) -> int:
    """Frames per decoded chunk of ``sides`` videos of ``pixels`` pixels a frame (RGB24) within ``budget``."""
    return frames_within(DECODE_SHARE * budget, sides * 3 * pixels, min(MAX_CHUNK, MAX_CHUNK_PIXELS // pixels))


def batch_frames(budget: int, pixels: int, bytes_per_pixel: float, cap: int) -> int:
    """Frame pairs per metric batch: within the budget's WORK_SHARE, at most ``cap`` and MAX_BATCH_PIXELS."""
    return frames_within(WORK_SHARE * budget, bytes_per_pixel * pixels, min(cap, MAX_BATCH_PIXELS // pixels))
