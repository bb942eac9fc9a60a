"""Clips made at once (runner.generate_split with a generator's ``concurrent`` hook) give the same files and counts
as one after another; m2p's pipeline copies, run in threads, give the same latents as the original run alone."""
import copy
import threading

import numpy as np
import pytest
import torch

from evalkit.generators import GeneratorContext, make_generator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """3 test clips of 2 s at 64², 15 fps (rgb only)."""
    from evalkit.data.registry import get_split
    from evalkit.data.synth.pipeline import SynthConfig, generate

    root = tmp_path_factory.mktemp("sdgpip")
    generate(root, SynthConfig(train=1, test=3, seconds=2.0, size=64, fps=15.0, seed=5, maps=("rgb",)))
    return root, sorted(get_split("synth", "test", root), key=lambda s: s.id)


class SeededStatic:
    """The static baseline with the seed written into the frames (so a wrong seed shows in the files); with
    ``together`` set, every call waits until that many run at once (the test fails by timeout otherwise)."""

    name, version = "seeded-static", "1"

    def __init__(self, root, together: int | None = None):
        self.inner = make_generator("static", GeneratorContext("synth", root))
        self.barrier = threading.Barrier(together) if together else None
        self.allowed = None

    def concurrent(self, n: int) -> int:
        self.allowed = n
        return n

    def generate(self, sample, *, music=None, seed: int = 0) -> np.ndarray:
        if self.barrier is not None:
            self.barrier.wait(timeout=120)
        frames = self.inner.generate(sample, seed=seed).copy()
        frames[:, :4, :4] = (seed % 6) * 40
        return frames


def test_concurrent_clips_write_the_same_files_as_one_at_a_time(tiny, tmp_path):
    from evalkit.io.video import decode_video
    from evalkit.runner import generate_split

    root, samples = tiny
    threads = torch.get_num_threads()
    one = generate_split(SeededStatic(root), samples, tmp_path / "one", seed=7, progress=False, workers=1)
    together = SeededStatic(root, together=3)
    three = generate_split(together, samples, tmp_path / "three", seed=7, progress=False, workers=3)
    assert together.allowed == 3  # the barrier above proves the three calls ran at once
    assert one == three == {"samples": 3, "frame_count_corrected": 0}
    assert torch.get_num_threads() == threads  # torch's threads are given back after generation
    for i, sample in enumerate(samples):
        for folder in ("pred", "gt"):
            a = decode_video(tmp_path / "one" / folder / f"{sample.id}.mp4").frames
            b = decode_video(tmp_path / "three" / folder / f"{sample.id}.mp4").frames
            np.testing.assert_array_equal(a, b)
        seeded = decode_video(tmp_path / "one" / "pred" / f"{sample.id}.mp4").frames[:, :4, :4]
        assert (seeded == ((7 + i) % 6) * 40).all()  # sample i got seed 7 + i


def test_generators_without_the_hook_make_one_clip_at_a_time(tiny, tmp_path):
    from evalkit.runner import _generation_workers

    root, _ = tiny
    assert _generation_workers(make_generator("static", GeneratorContext("synth", root)), 3, 2) == 1
    assert _generation_workers(SeededStatic(root), 3, 8) == 3  # at most one worker per sample
    assert _generation_workers(SeededStatic(root), 1, 8) == 1


@pytest.mark.usefixtures("one_torch_thread")
def test_m2p_pipeline_copies_in_threads_give_the_same_latents():
    from evalkit.models.m2p.pipeline import M2PPipeline

    pipe = M2PPipeline.from_checkpoint(None, device="cpu", steps=1)
    rng = np.random.default_rng(0)
    music = rng.standard_normal((8, pipe.cfg.music_dim)).astype(np.float32)
    ref = torch.from_numpy(rng.uniform(-1, 1, (3, pipe.cfg.size, pipe.cfg.size)).astype(np.float32))
    alone = [pipe.sampler.latents(music, ref, seed) for seed in (0, 1)]
    pipes, out = [pipe, copy.deepcopy(pipe)], {}
    workers = [threading.Thread(target=lambda k: out.__setitem__(k, pipes[k].sampler.latents(music, ref, k)),
                                args=(k,)) for k in (0, 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for seed in (0, 1):  # one torch thread each: the same kernels in the same order, so bit-identical
        torch.testing.assert_close(out[seed], alone[seed], atol=0, rtol=0)
    assert (alone[0] - alone[1]).abs().max() > 1e-2  # the seeds differ, so a swap would show
