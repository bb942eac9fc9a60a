"""Streaming states: two half updates merged equal one full update; the engine's shards merge exactly."""
import pytest

from evalkit.io.item import ScoreItem
from evalkit.io.video import Video
from evalkit.metrics import build
from frames import random_pair


def items(n=4):
    out = []
    for i in range(n):
        a, b = random_pair(10 + i, n=2 + i % 2, h=32, w=32)
        out.append(ScoreItem(f"v{i}", Video(b, 30.0, f"p{i}.mp4"), Video(a, 30.0, f"g{i}.mp4")))
    return out


@pytest.mark.parametrize("name,preset", [("ssim", "clean"), ("ssim", "disco"), ("psnr", "disco-v1"),
                                         ("l1", "clean"), ("lpips", "clean")])
def test_two_halves_merged_equal_full(name, preset):
    data = items()
    full = build(name, preset)
    first, second = build(name, preset), build(name, preset)
    for it in data:
        full.update(it)
    for it in data[:2]:
        first.update(it)
    for it in data[2:]:
        second.update(it)
    merged = first.merge(second).compute()
    for key, value in full.compute().items():
        assert merged[key] == pytest.approx(value, rel=0, abs=1e-12)


def test_state_dict_round_trip():
    data = items()
    m = build("psnr", "clean")
    for it in data:
        m.update(it)
    fresh = build("psnr", "clean")
    fresh.load_state_dict(m.state_dict())
    assert fresh.compute() == m.compute()


def test_merge_refuses_other_settings():
    with pytest.raises(ValueError):
        build("ssim", "clean").merge(build("ssim", "disco"))
