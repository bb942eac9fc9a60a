"""Fréchet distance: identities, the three trace routes against each other and scipy, streaming moments."""
import numpy as np
import pytest
import scipy.linalg

from evalkit.errors import EvalkitError
from evalkit.metrics.frechet import (
    METHODS, _sqrt_sym_tfgan, fd_from_features, frechet_distance, frechet_distance_batched, moments,
    moments_from_sums,
)


pytestmark = pytest.mark.usefixtures("single_threaded_blas")

D = 400


def feats(n, seed, shift=0.0, scale=3.0):
    # correlated dimensions (a random rotation, scales 0.5..2): well conditioned, so that float64
    # round-off in the matrix square roots stays far below the tolerances asserted here
    rng = np.random.default_rng(seed)
    rot = np.linalg.qr(rng.normal(size=(D, D)))[0]
    mix = rot * np.linspace(0.5, 2.0, D)
    return rng.normal(size=(n, D)) @ mix.T * scale + rng.normal(size=D) * 5 + shift


@pytest.mark.parametrize("method", METHODS)
def test_fd_of_a_set_with_itself_is_zero(method):
    x = feats(600, 0)  # N > D: full-rank covariance
    assert abs(fd_from_features(x, x, method=method)) < 1e-6  # tolerance: 1e-6 absolute


@pytest.mark.parametrize("method,tol", [("eigh", 1e-6), ("tfgan", 1e-4)])
@pytest.mark.parametrize("n", [20, 200])
def test_fd_with_itself_when_rank_deficient(method, tol, n):
    # N <= D: the eigh route's relative round-off threshold keeps this at 0 (1e-6); TF-GAN's absolute
    # 1e-10 threshold square-roots some round-off singular values (~1e-5 left); scipy's sqrtm leaves
    # ~1e-4, as in every scipy-based reference, so it is not asserted here
    x = feats(n, 1)
    assert abs(fd_from_features(x, x, method=method)) < tol


@pytest.mark.parametrize("method", METHODS)
def test_equal_covariances_give_squared_mean_distance(method):
    x = feats(600, 2)
    delta = np.random.default_rng(3).normal(size=D)
    y = x + delta  # same covariance exactly, means differ by delta
    fd = fd_from_features(x, y, method=method)
    assert fd == pytest.approx(float(delta @ delta), rel=1e-6)  # tolerance: 1e-6 relative


@pytest.mark.parametrize("n", [10, 64, 256, 2048])
def test_tfgan_and_scipy_routes_agree(n):
    x, y = feats(n, 4), feats(n, 5, shift=0.3, scale=2.5)
    tf = fd_from_features(x, y, method="tfgan")
    sp = fd_from_features(x, y, method="scipy")
    eig = fd_from_features(x, y, method="eigh")
    assert sp == pytest.approx(tf, rel=1e-4)  # tolerance: 1e-4 relative (the bar)
    assert eig == pytest.approx(tf, rel=1e-9)  # the two symmetric routes agree far tighter


def test_scipy_route_is_scipy_sqrtm_literally():
    x, y = feats(500, 6), feats(500, 7, shift=1.0)
    (m1, s1), (m2, s2) = moments(x), moments(y)
    literal = float(np.real(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2))))
    assert frechet_distance(m1, s1, m2, s2, method="scipy")["fd"] == pytest.approx(literal, rel=1e-12)


def test_tfgan_square_root_leaves_tiny_singular_values_alone():
    root = _sqrt_sym_tfgan(np.diag([4.0, 9.0, 1e-12]))
    assert np.allclose(np.diag(root), [2.0, 3.0, 1e-12], rtol=1e-12, atol=0)


@pytest.mark.parametrize("ddof", [0, 1])
def test_moments_from_running_sums_match_numpy(ddof):
    x = feats(300, 8)
    mu, sigma = moments_from_sums(len(x), x.sum(0), x.T @ x, ddof=ddof)
    assert np.allclose(mu, x.mean(0), rtol=0, atol=1e-12)
    assert np.allclose(sigma, np.cov(x, rowvar=False, ddof=ddof), rtol=1e-9, atol=1e-9)


def test_population_covariance_changes_fd_as_documented():
    # N vs N-1 (StyleGAN-V vs TF): same data, only the divisor differs; at N=16 it is a few percent
    x, y = feats(16, 9), feats(16, 10, shift=0.5)
    fd1, fd0 = fd_from_features(x, y, ddof=1), fd_from_features(x, y, ddof=0)
    (m1, s1), (m2, s2) = moments(x, 1), moments(y, 1)
    scale = 15 / 16
    assert fd0 == pytest.approx(frechet_distance(m1, s1 * scale, m2, s2 * scale)["fd"], rel=1e-9)
    assert 0.001 < (fd1 - fd0) / fd1 < 0.2


def test_batched_eigh_matches_single():
    sets = [(feats(100, 20 + i), feats(100, 40 + i, shift=0.2 * i)) for i in range(3)]
    stats = [(moments(a), moments(b)) for a, b in sets]
    mu1 = np.stack([s[0][0] for s in stats]); s1 = np.stack([s[0][1] for s in stats])
    mu2 = np.stack([s[1][0] for s in stats]); s2 = np.stack([s[1][1] for s in stats])
    batched = frechet_distance_batched(mu1, s1, mu2, s2)
    single = [frechet_distance(a[0], a[1], b[0], b[1], method="tfgan")["fd"] for a, b in stats]
    assert np.allclose(batched, single, rtol=1e-9, atol=0)


def test_bad_input_is_a_one_line_error():
    with pytest.raises(EvalkitError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(EvalkitError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3), method="nope")
    with pytest.raises(EvalkitError):
        moments_from_sums(1, np.zeros(3), np.zeros((3, 3)), ddof=1)
