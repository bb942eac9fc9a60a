"""``evalkit run-model``: generate every sample of a split with a generator, then score the videos.

Run folder (default ``runs/<name>-<dataset>-<part>-<YYYY-MM-DD>``, ``-2``, ``-3`` … when taken)::

    pred/<id>.mp4     the generated frames, lossless (libx264rgb qp 0: decodes to exactly the generator's
                      pixels, so codecs never enter the scores) with the sample's own music muxed in as
                      lossless ALAC (no AAC priming delay to shift the audio against the frames)
    gt/<id>.<ext>     the ground truth: the dataset's file when it needs no crop/resize, else the
                      cropped/resized frames written the same lossless way
    results.json, per_video.csv   the scores (evalkit score), plus a "run" block: generator, version,
                      split, seed, counts

The music muxed into a prediction is always the sample's own (also for the shuffled-music control, whose
motion follows another sample's music), cut to the video's duration.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import shutil
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

#: settings for small CPU splits (a few clips of a few seconds): the metrics' defaults otherwise
METRIC_OPTIONS: dict[str, dict] = {}
#: leaderboard split name -> (dataset, part)
SPLIT_NAMES = {"synth-test": ("synth", "test"), "synth-train": ("synth", "train"), "synth-bench": ("synth", "bench"),
               "wild": ("wild", "test"),
               "aistpp-test": ("aistpp", "test"), "aistpp-val": ("aistpp", "val")}


def resolve_split(split: str, dataset: str | None) -> tuple[str, str]:
    """``--split test --dataset synth`` or a board name ``--split synth-test`` (which names its dataset) →
    (dataset, part)."""
    if split in SPLIT_NAMES:
        return SPLIT_NAMES[split]
    return dataset or "synth", split


def parse_generator_options(items: list[str]) -> dict:
    """['pose_backend=dwpose', 'steps=10'] -> {'pose_backend': 'dwpose', 'steps': '10'}: text, which the
    generator coerces to its declared types (generators.take_options)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise EvalkitError(f"bad --opt '{item}'", hint="write KEY=VALUE, e.g. pose_backend=dwpose")
        out[key.strip()] = value
    return out


def default_run_dir(name: str, dataset: str, part: str, base: str | Path = "runs") -> Path:
    stem = f"{name}-{dataset}-{part}-{_dt.date.today().isoformat()}"
    path, n = Path(base) / stem, 1
    while path.exists():
        n += 1
        path = Path(base) / f"{stem}-{n}"
    return path


def available_metrics(names=None) -> tuple[tuple[str, ...], list[str]]:
    """(metrics to score, registered metrics that this installation cannot import). Explicit names are checked;
    by default the metrics that declare ``on_boards``, in registry order."""
    from evalkit.metrics import board_metrics, metric_class

    if names:
        for name in names:
            metric_class(name)  # unknown names: one-line error
        return tuple(names), []
    return board_metrics()


# ---------------------------------------------------------------------------------------------- writing
def _audio_block(music: Path, seconds: float) -> tuple[np.ndarray, int]:
    """(channels, n) float32 samples of ``music`` cut to ``seconds``; more than two channels are averaged."""
    from evalkit.io.audio import decode_audio

    audio = decode_audio(music)
    samples = audio.samples[:, : int(round(seconds * audio.sample_rate))]
    if samples.shape[0] > 2:
        samples = samples.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(samples, dtype=np.float32), audio.sample_rate


def write_lossless(path: Path, frames: np.ndarray, fps: float, music: Path | None = None) -> Path:
    """RGB frames as lossless H.264 (libx264rgb, qp 0, one thread: the same bytes every time) with the music
    (cut to the video's duration) as ALAC."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part" + path.suffix)
    with av.open(str(tmp), "w", format="mp4") as out:
        vs = out.add_stream("libx264rgb", rate=Fraction(fps).limit_denominator(1001))
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "rgb24"
        vs.options = {"qp": "0", "preset": "ultrafast"}
        vs.thread_count = 1
        if music is not None:
            samples, rate = _audio_block(music, len(frames) / fps)
            aus = out.add_stream("alac", rate=rate)
            aus.layout = "mono" if samples.shape[0] == 1 else "stereo"
        for fr in frames:
            for packet in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if music is not None:
            pcm = (np.clip(samples, -1.0, 1.0) * (2**31 - 1)).astype(np.int32)
            chunk = 4096  # ALAC frames are 4096 samples: feed them in that size
            for start in range(0, pcm.shape[1], chunk):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, start:start + chunk]), format="s32p",
                                                   layout=aus.layout.name)
                frame.sample_rate = rate
                frame.pts = start
                for packet in aus.encode(frame):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    tmp.replace(path)
    return path


def write_ground_truth(folder: Path, sample, frames: np.ndarray) -> Path:
    """The ground truth as scored: the dataset's own file when no crop/resize applies, else the transformed frames."""
    if sample.crop is None and sample.resize is None:
        out = folder / f"{sample.id}{Path(sample.video).suffix.lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample.video, out)
        return out
    return write_lossless(folder / f"{sample.id}.mp4", frames, sample.fps, Path(sample.music))


# ---------------------------------------------------------------------------------------------- running
def _progress(total: int, label: str, enabled: bool):
    import contextlib

    if not enabled:
        return contextlib.nullcontext(lambda desc: None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      TextColumn("{task.description}"), transient=True) as prog:
            task = prog.add_task("", total=total)
            yield lambda desc: prog.update(task, advance=1, description=desc)

    return bar()


def pose_backend_of(record: dict) -> str:
    """The pose backend the scores depend on (a metric's pose setting, e.g. BeatAlign's), from a results record;
    "" when none."""
    found = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, str) and key in ("pose_backend", "backend", "pose"):
            found.append(value)

    for identity in record.get("metrics", {}).values():
        walk(identity.get("settings", {}) if isinstance(identity, dict) else {})
    return found[0] if found else ""


def generate_split(generator, samples: list, run_dir: Path, seed: int = 0, progress: bool = True,
                   workers: int | None = None) -> dict:
    """Write pred/ and gt/ for every sample (sample i gets seed + i); returns counts (frame counts corrected to
    the decoded ground truth). A generator with ``concurrent(n)`` makes up to ``workers`` clips at once (default:
    one per core this process may use), each in a thread with its share of torch's threads: a clip's output
    depends on its sample and seed only, not on which thread made it or when."""
    import concurrent.futures as cf

    from evalkit.generators import check_frames

    pred_dir, gt_dir = run_dir / "pred", run_dir / "gt"
    for folder in (pred_dir, gt_dir):  # a reused run folder must not keep videos of an earlier run
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    counts = {"samples": 0, "frame_count_corrected": 0}
    if hasattr(generator, "prepare"):
        generator.prepare(samples)

    def one(i: int, sample) -> tuple[str, bool]:
        gt = sample.load_video()
        corrected = gt.num_frames != sample.num_frames  # container headers may miscount: trust the decoded frames
        if corrected:
            sample = replace(sample, num_frames=gt.num_frames)
        sample.meta.setdefault("frame_size", gt.size)
        frames = check_frames(generator.generate(sample, seed=seed + i), sample, generator.name)
        write_lossless(pred_dir / f"{sample.id}.mp4", frames, sample.fps, Path(sample.music))
        write_ground_truth(gt_dir, sample, gt.frames)
        return sample.id, corrected

    n = _generation_workers(generator, len(samples), workers)
    with _progress(len(samples), f"generating ({generator.name})", progress) as advance, _torch_threads(n):
        with cf.ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(one, i, sample) for i, sample in enumerate(samples)]
            try:
                for future in cf.as_completed(futures):
                    sample_id, corrected = future.result()
                    counts["samples"] += 1
                    counts["frame_count_corrected"] += int(corrected)
                    advance(sample_id)
            except BaseException:  # the first failure (or Ctrl-C) stops the clips not yet started
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return counts


def _generation_workers(generator, samples: int, workers: int | None) -> int:
    """Clips made at once: ``workers`` (default: the cores this process may use), at most one per sample, and
    what the generator allows (1 without ``concurrent``)."""
    import os

    want = workers or len(os.sched_getaffinity(0))
    want = max(1, min(want, samples))
    if want == 1 or not hasattr(generator, "concurrent"):
        return 1
    return max(1, int(generator.concurrent(want)))


@contextlib.contextmanager
def _torch_threads(workers: int):
    """torch's intra-op threads split between ``workers`` concurrent clips while they run (process-wide, so set
    here and given back), when the generator has loaded torch; nothing otherwise."""
    torch = sys.modules.get("torch")
    if workers == 1 or torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, before // workers))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _plain(value):
    """JSON for numpy scalars/arrays and paths in generator info."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def run_model(name: str, split: str = "test", dataset: str | None = "synth", root=None, out=None, seed: int = 0,
              limit: int | None = None, metrics=None, device: str = "cpu", jobs: int = 1, shuffle_music: bool = False,
              options: dict | None = None, preset: str = "clean", progress: bool = True, score_videos: bool = True,
              max_memory: str | int | None = None):
    """Generate ``split`` with generator ``name`` and score it; returns the aggregate DataFrame
    (``df.attrs['run_dir']`` is the run folder, which holds results.json), or None with ``score_videos=False``."""
    from evalkit.data.registry import get_split
    from evalkit.generators import GeneratorContext, make_generator
    from evalkit.scoring import score

    dataset, part = resolve_split(split, dataset)
    metric_names, unavailable = available_metrics(metrics)
    context = GeneratorContext(dataset, Path(root) if root else None, device, dict(options or {}))
    generator = make_generator(name, context)
    if shuffle_music:
        from evalkit.baselines.shuffled_music import ShuffledMusic

        generator = ShuffledMusic(context, inner=generator)
    data = get_split(dataset, part, root)
    samples = sorted(data, key=lambda s: s.id)
    if limit is not None:
        if limit < 1:
            raise EvalkitError(f"--limit must be at least 1, got {limit}")
        samples = samples[:limit]
    if not samples:
        raise EvalkitError(f"split {data.name} has no samples", path=root)
    model = f"{name}+shuffled-music" if shuffle_music else name
    run_dir = Path(out) if out else default_run_dir(model, dataset, part)
    from evalkit.results.outdir import claimed, write_atomic

    # the run folder is made, checked and locked before generation (a second run into it stops in one line);
    # the scoring inside claims it again without releasing it
    with claimed(run_dir):
        counts = generate_split(generator, samples, run_dir, seed, progress)
        if not score_videos:
            return None

        agg = score(run_dir / "pred", run_dir / "gt", metrics=metric_names, preset=preset, device=device,
                    jobs=jobs, out=run_dir, progress=progress, max_memory=max_memory,
                    metric_options={k: dict(v) for k, v in METRIC_OPTIONS.items() if k in metric_names})
        results = run_dir / "results.json"
        record = json.loads(results.read_text())
        record["run"] = {
            "model": model, "generator": generator.name, "version": generator.version, "dataset": dataset,
            "part": part, "split": data.name, "root": str(root) if root else None, "seed": seed, "limit": limit,
            "device": device, "options": dict(options or {}), "pose_backend": pose_backend_of(record),
            "skipped": dict(data.skipped), "metrics_unavailable": unavailable, "counts": counts,
            "generator_info": generator.info() if hasattr(generator, "info") else {},
        }
        write_atomic(results, json.dumps(record, indent=2, default=_plain) + "\n")  # never half a file
        agg.attrs["run_dir"] = run_dir
        agg.attrs["record"] = record
        return agg
