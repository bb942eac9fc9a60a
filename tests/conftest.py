import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared (via EVALKIT_SHARED); tests that need it skip cleanly when it is absent."""
    value = os.environ.get("EVALKIT_SHARED")
    candidates = [Path(value)] if value else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared")
    for path in candidates:
        if (path / "data").is_dir():
            return path
    pytest.skip("shared test material not found (set EVALKIT_SHARED=../shared)")


# Opt-in per module (``pytestmark = pytest.mark.usefixtures(...)``): these tests are many tiny numerical
# operations that thread oversubscription on a shared CI machine slows down by several times.
@pytest.fixture(scope="module")
def single_threaded_blas():
    """One BLAS thread: on a shared, oversubscribed CI machine multithreaded LAPACK spins (10-50x slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors on a shared 2-core machine: one torch thread is several times faster than two."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
