"""Peak memory (RSS) of `evalkit score` on 1080p pairs of growing length, next to the `lpips` package's batch-1 loop.

The benchmark writes its own pairs (a moving sine pattern; pred = gt shifted by 2 px plus noise) with PyAV, one
frame at a time, then runs each case as a child process and reads that child's peak RSS from ``os.wait4`` (the
kernel's ru_maxrss: the child and the children it waited for). Cases:

- ``evalkit score`` with the default metrics (SSIM, PSNR, L1, LPIPS-alex) and with ``--preset disco`` (LPIPS-VGG);
- the reference: the `lpips` package's own way (its lpips_2dirs.py loop: one pair at a time through
  ``LPIPS.forward``, no ``torch.no_grad``), frames decoded one by one with PyAV, the same net as the preset.

A run that passes ``--limit`` seconds is stopped there; its peak is then the peak of the part that ran (marked
"partial", with how far it got by the RSS trace). On a 2-core machine 1080p VGG takes seconds a frame, so the long
pairs run partially: memory that does not grow over the run is what they show. Also ``--per-pixel``: the working
memory per pixel of each frame metric's batch (FrameMetric.bytes_per_pixel).

Run: nice -n 10 uv run python benchmarks/memory.py --frames 16,300,1800 --limit 240 [--work DIR] [--height 540]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

H, W, FPS = 1080, 1920, 30

REFERENCE = r'''
import sys, av, lpips, torch
net, pred, gt = sys.argv[1:4]
model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)  # no download
def frames(path):
    with av.open(path) as c:
        for f in c.decode(video=0):
            yield lpips.im2tensor(f.to_ndarray(format="rgb24"))  # [-1, 1], (1, 3, H, W), as lpips_2dirs.py
total = n = 0
for a, b in zip(frames(pred), frames(gt)):
    total += float(model.forward(a, b))
    n += 1
print(f"lpips-{net} mean {total / n:.6f} over {n} pairs")
'''


def pattern(t: int, shift: int = 0, rng=None) -> np.ndarray:
    """Frame t of the moving pattern: three sine gratings drifting at different speeds."""
    y = np.linspace(0, 1, H, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, W, dtype=np.float32)[None, :]
    img = np.stack([127 + 100 * np.sin(2 * np.pi * (f * x + g * y) + 0.15 * t * (k + 1) + k)
                    for k, (f, g) in enumerate(((3, 5), (7, 2), (4, 6)))], axis=-1)
    if shift:
        img = np.roll(img, shift, axis=1)
    if rng is not None:
        img = img + rng.normal(0, 12, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_pair(root: Path, frames: int) -> tuple[Path, Path]:
    """pred/ and gt/ folders holding one 1080p H.264 pair of ``frames`` frames, written frame by frame."""
    import av

    pred, gt = (root / f"{frames}f{'' if H == 1080 else f'-{H}p'}" / side / "clip.mp4" for side in ("pred", "gt"))
    if pred.exists() and gt.exists():
        return pred.parent, gt.parent
    rng = np.random.default_rng(0)
    for path, make in ((gt, lambda t: pattern(t)), (pred, lambda t: pattern(t, 2, rng))):
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part.mp4")
        with av.open(str(part), "w") as out:
            stream = out.add_stream("libx264", rate=Fraction(FPS))
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            stream.options = {"crf": "23", "preset": "ultrafast"}
            for t in range(frames):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(make(t), format="rgb24")))
            out.mux(stream.encode())
        part.rename(path)
    return pred.parent, gt.parent


def peak_rss(cmd: list[str], limit: float) -> dict:
    """Run ``cmd``; its peak RSS (MB) from wait4, wall seconds, whether it finished, and its RSS every second."""
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    trace, finished = [], True
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # wait4, not poll: poll would reap its rusage
        if pid:
            break
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            trace.append((round(time.time() - start), rss // 1024))
        except (OSError, StopIteration):
            pass
        if time.time() - start > limit:
            proc.kill()
            finished = False
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(1.0)
    proc.returncode = 0  # reaped above; keeps Popen from waiting again
    out = proc.stdout.read().decode(errors="replace").strip().splitlines()
    return {"peak_mb": usage.ru_maxrss / 1024, "seconds": time.time() - start, "finished": finished,
            "rc": os.waitstatus_to_exitcode(status), "trace": trace, "last": out[-1] if out else ""}


def cases(pred: Path, gt: Path, out: Path) -> dict[str, list[str]]:
    evalkit = [sys.executable, "-m", "evalkit", "score", "--pred", str(pred), "--gt", str(gt)]
    return {
        "evalkit default": evalkit + ["--out", str(out / "default")],
        "evalkit --preset disco": evalkit + ["--preset", "disco", "--out", str(out / "disco")],
        "lpips batch-1 (alex)": [sys.executable, "-c", REFERENCE, "alex", str(pred / "clip.mp4"),
                                 str(gt / "clip.mp4")],
        "lpips batch-1 (vgg)": [sys.executable, "-c", REFERENCE, "vgg", str(pred / "clip.mp4"),
                                str(gt / "clip.mp4")],
    }


def per_pixel(size: tuple[int, int] = (540, 960)) -> None:
    """Each frame metric's peak working memory per pixel of a one-pair batch, in a fresh process each."""
    code = r'''
import resource, sys, numpy as np, torch
from evalkit.metrics import build
m = build(sys.argv[1], sys.argv[2]); m.prepare() if hasattr(m, "prepare") else None
h, w = int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
p, g = (torch.from_numpy(rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)) for _ in range(2))
m.frame_values(p, g)  # warm-up: lazy imports; its peak is the call's peak (large buffers go back to the OS)
before = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
m.frame_values(p, g)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024 / (h * w))
'''
    for name, preset in (("ssim", "clean"), ("psnr", "clean"), ("l1", "clean"), ("lpips", "clean"),
                         ("lpips", "disco")):
        res = subprocess.run([sys.executable, "-c", code, name, preset, str(size[0]), str(size[1])],
                             capture_output=True, text=True)
        value = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.stderr.strip()[-200:]
        print(f"{name}/{preset}: {value} bytes per pixel: peak minus the RSS before the call ({size[0]}×{size[1]}, batch 1)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="16,300,1800")
    ap.add_argument("--limit", type=float, default=240.0, help="seconds a run may take before it is stopped")
    ap.add_argument("--work", type=Path, default=None, help="folder for the pairs (kept between runs)")
    ap.add_argument("--only", default="", help="comma-separated case names to run (default: all)")
    ap.add_argument("--height", type=int, default=1080, help="frame height (width 16:9); 1080 unless RAM is short")
    ap.add_argument("--per-pixel", action="store_true")
    args = ap.parse_args()
    global H, W
    H, W = args.height, args.height * 16 // 9 // 2 * 2
    if args.per_pixel:
        per_pixel()
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="evalkit-memory-"))
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()}, "
          f"{os.cpu_count()} cores, MemAvailable at start "
          f"{next(int(l.split()[1]) for l in open('/proc/meminfo') if l.startswith('MemAvailable')) // 1024} MB")
    for frames in (int(f) for f in args.frames.split(",")):
        pred, gt = write_pair(work, frames)
        for name, cmd in cases(pred, gt, pred.parent / "out").items():
            if args.only and name not in args.only.split(","):
                continue
            res = peak_rss(cmd, args.limit)
            state = "done" if res["finished"] and res["rc"] == 0 else \
                ("partial" if not res["finished"] else f"rc {res['rc']}")
            flat = [mb for _, mb in res["trace"]]
            print(f"{frames:5d} frames | {name:24s} | peak {res['peak_mb']:7.0f} MB | {res['seconds']:6.0f} s "
                  f"{state} | RSS at 25/50/75/100 % of the run: "
                  f"{[flat[int(q * (len(flat) - 1))] for q in (0.25, 0.5, 0.75, 1.0)] if flat else []} MB")
            sys.stdout.flush()
    print(f"children's peak (all runs): {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
