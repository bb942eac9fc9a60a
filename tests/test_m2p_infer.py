"""Long-video sampling (segments, windows, continuation), the generator interface, and run-model."""
import numpy as np
import pytest
import torch

from evalkit.models.m2p.infer import LongVideoSettings, sample_long
from evalkit.models.m2p.windows import segments, windows
from evalkit.models.m2p.scheduler import make_scheduler


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_windows_cover_and_end_aligned():
    assert windows(10, 24, 8) == [(0, 10)]
    w = windows(50, 24, 8)
    assert w == [(0, 24), (16, 40), (26, 50)]
    covered = np.zeros(50, int)
    for a, b in w:
        covered[a:b] += 1
    assert covered.min() >= 1


def test_segments_carry_frames():
    s = segments(200, 50, 4)
    assert s[0] == (0, 50) and s[1] == (46, 96) and s[-1][1] == 200
    assert all(b - a <= 50 for a, b in s) and all(s[i + 1][0] == s[i][1] - 4 for i in range(len(s) - 1))


class SmoothPrior:
    """The exact denoiser of a Gaussian-process video prior (squared-exponential kernel over frames, length
    scale 5 frames, independent per latent pixel): E[x0 | x_t] = √ᾱ K (ᾱK + (1−ᾱ)I)⁻¹ x_t per window, as v.
    Its samples are smooth in time, so any jump comes from how segments are merged."""

    def __init__(self, length=5.0):
        self.ac = make_scheduler().alphas_cumprod.double()
        self.length = length

    def __call__(self, x, t, starts):
        w = x.shape[2]
        i = torch.arange(w, dtype=torch.float64)
        k = torch.exp(-(i[:, None] - i[None, :]) ** 2 / (2 * self.length ** 2))
        a2 = self.ac[int(t)]
        m = a2.sqrt() * k @ torch.linalg.inv(a2 * k + (1 - a2) * torch.eye(w, dtype=torch.float64))
        x0 = torch.einsum("fg,bcghw->bcfhw", m.float(), x)
        return (a2.sqrt().float() * x - x0) / (1 - a2).sqrt().float()


def _frame_diffs(z):
    return (z[:, :, 1:] - z[:, :, :-1]).abs().mean(dim=(0, 1, 3, 4)).numpy()


def test_20s_generation_is_continuous_across_segments():
    """20 s at 10 fps = 200 frames in 5-s segments. Frame-to-frame change at the segment hand-overs is no
    larger than the largest change inside segments (tolerance 10 %); with independent segments it is > 2×."""
    n, st = 200, LongVideoSettings(segment_frames=50, window=24, overlap=8, carry=4, steps=25)
    noise = torch.randn(1, 4, n, 8, 8, generator=torch.Generator().manual_seed(0))
    segs = segments(n, 50, 4)
    near = sorted({i for a, _ in segs[1:] for i in range(a - 1, a + st.carry + 1)})
    inside = [i for i in range(n - 1) if i not in near]
    results = {}
    for cont in (True, False):
        d = _frame_diffs(sample_long(SmoothPrior(), noise, st, continuation=cont))
        results[cont] = (d[near].max(), d[inside].max(), np.median(d[inside]))
    boundary, inside_max, inside_median = results[True]
    print(f"boundary max {boundary:.3f}, inside max {inside_max:.3f}, inside median {inside_median:.3f}; "
          f"independent segments: boundary max {results[False][0]:.3f}")
    assert boundary <= 1.1 * inside_max
    assert results[False][0] > 2 * results[False][1]


def test_window_averaging_matches_one_window_for_a_frame_local_denoiser():
    """A denoiser that treats frames independently gives the same result with any window layout."""
    def local(x, t, starts):
        return 0.5 * x

    noise = torch.randn(1, 4, 30, 2, 2, generator=torch.Generator().manual_seed(1))
    one = sample_long(local, noise, LongVideoSettings(30, 30, 0, 0, 5))
    many = sample_long(local, noise, LongVideoSettings(30, 8, 3, 0, 5, window_batch=2))
    torch.testing.assert_close(one, many, atol=1e-5, rtol=1e-5)


def test_init_strength_starts_from_the_noised_prior_and_runs_the_remaining_steps():
    """strength s: the first denoiser call sees add_noise(prior, noise, t) at the step s of the way up the
    schedule, and round(s·steps) steps run; strength 1 ignores the prior (bit-identical to no prior)."""
    from evalkit.errors import EvalkitError
    from evalkit.models.m2p.scheduler import add_noise

    noise = torch.randn(1, 4, 12, 3, 3, generator=torch.Generator().manual_seed(2))
    prior = torch.randn(1, 4, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    st = LongVideoSettings(segment_frames=12, window=12, overlap=0, carry=0, steps=10)
    seen = []

    def record(x, t, starts):
        seen.append((int(t), x.clone()))
        return 0.5 * x

    plain = sample_long(record, noise, st)
    assert len(seen) == 10
    assert torch.equal(sample_long(record, noise, st, prior=prior, strength=1.0), plain)
    seen.clear()
    sample_long(record, noise, st, prior=prior, strength=0.4)
    sched = make_scheduler()
    sched.set_timesteps(10)
    t0 = sched.timesteps[6]
    assert len(seen) == 4 and seen[0][0] == int(t0)
    torch.testing.assert_close(seen[0][1], add_noise(sched, prior.expand_as(noise), noise, t0.view(1)))
    with pytest.raises(EvalkitError):
        sample_long(record, noise, st, prior=prior, strength=0.0)


# the generator interface on the toy model --------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipeline():
    from evalkit.models.m2p.config import get_config
    from evalkit.models.m2p.model import M2PModel
    from evalkit.models.m2p.pipeline import M2PPipeline

    torch.manual_seed(0)
    return M2PPipeline(M2PModel(get_config("micro")))


def test_generate_shape_fps_and_seeds(pipeline):
    ref = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    music = np.random.default_rng(1).normal(size=(31, 35)).astype(np.float32)  # 3 s at the model's 10 fps
    out = pipeline.generate(None, ref, num_frames=72, fps=24.0, seed=3, music=music)
    assert out.shape == (72, 40, 60, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, :10], np.repeat(ref[None, :, :10], 72, 0))  # outside the centre square
    again = pipeline.generate(None, ref, num_frames=72, fps=24.0, seed=3, music=music)
    other = pipeline.generate(None, ref, num_frames=72, fps=24.0, seed=4, music=music)
    assert np.array_equal(out, again) and not np.array_equal(out, other)


def test_keep_reference_pastes_only_what_the_model_changed():
    from evalkit.models.m2p.pipeline import paste_changes

    rng = np.random.default_rng(0)
    ref = rng.integers(40, 180, (48, 64, 3), dtype=np.uint8)  # centre square: columns 8..56, 3 pixels per pixel
    recon = rng.integers(40, 200, (16, 16, 3), dtype=np.uint8)  # the VAE's copy differs everywhere
    frames = np.repeat(recon[None], 3, axis=0).astype(np.int16)
    frames[1, 4:12, 4:12] += 60  # one frame changes a block by far more than τ
    out = paste_changes(np.clip(frames, 0, 255).astype(np.uint8), recon, ref, tau=10.0)
    assert np.array_equal(out[0], ref) and np.array_equal(out[2], ref)  # unchanged frames: the exact reference
    inside = (slice(16, 32), slice(8 + 16, 8 + 32))  # well inside the moved block (rows/columns 12..36 there)
    added = out[1][inside].astype(int) - ref[inside].astype(int)  # reference + change
    assert abs(added.mean() - 60) < 0.5 and np.abs(added - 60).max() <= 3  # ≤ 3: the cubic upsampling's ringing
    assert np.array_equal(out[1, :, :8], ref[:, :8])  # outside the square: untouched
    small = (recon.astype(np.int16) + 5)[None].astype(np.uint8)  # a change of 5 everywhere, under τ
    assert np.array_equal(paste_changes(small, recon, ref, tau=10.0)[0], ref)
    assert np.abs(paste_changes(small, recon, ref, tau=0.0)[0, :, 8:56].astype(int) - ref[:, 8:56] - 5).max() <= 1


def test_keep_reference_option_reaches_the_pipeline(pipeline):
    from evalkit.errors import EvalkitError
    from evalkit.models.m2p.pipeline import M2PPipeline

    ref = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    music = np.random.default_rng(1).normal(size=(11, 35)).astype(np.float32)
    keep = M2PPipeline(pipeline.sampler.model, keep_reference=255.0)  # nothing passes: the reference, every frame
    out = keep.generate(None, ref, num_frames=10, fps=10.0, seed=0, music=music)
    assert np.array_equal(out, np.repeat(ref[None], 10, axis=0))
    with pytest.raises(EvalkitError, match="keep_reference"):
        M2PPipeline(pipeline.sampler.model, keep_reference=-1)


def test_retime_blends_neighbours():
    from evalkit.models.m2p.infer import model_frames, retime

    frames = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (0, 30, 60)])
    out = retime(frames, 10.0, 30.0, 7)
    assert [int(f[0, 0, 0]) for f in out] == [0, 10, 20, 30, 40, 50, 60]
    assert model_frames(150, 30.0, 10.0) == 50 and model_frames(1, 30.0, 10.0) == 1


def test_ceiling_geometry_is_identity_at_the_videos_own_size_and_rate():
    """The ceiling's ground truth round trip changes nothing at the video's own geometry, and at a smaller one
    keeps the frame count and size (so it is scored like a generated video)."""
    from types import SimpleNamespace

    from evalkit.models.m2p.ceiling import GroundTruthAt

    frames = np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    sample = SimpleNamespace(fps=10.0, load_video=lambda: SimpleNamespace(frames=frames))
    np.testing.assert_array_equal(GroundTruthAt(32, 10.0).generate(sample), frames)
    low = GroundTruthAt(16, 5.0).generate(sample)
    assert low.shape == frames.shape and low.dtype == np.uint8 and not np.array_equal(low, frames)
