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
