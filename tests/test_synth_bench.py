"""synth-bench: the decision-sized SDGPip split — its format, its seeds kept apart, its cache, its board."""
import numpy as np
import pytest

from evalkit.data import synth_bench
from evalkit.data.synth.default import default_config
from evalkit.data.synth.music import synth_track
from evalkit.data.synth.pipeline import SynthConfig, _rng
from evalkit.errors import EvalkitError


def test_bench_has_the_test_clips_format_and_the_power_analysis_size():
    bench, small = synth_bench.bench_config(), default_config()
    assert (bench.seconds, bench.size, bench.fps, bench.maps) == (small.seconds, small.size, small.fps, small.maps)
    assert (bench.train, bench.test) == (0, synth_bench.BENCH_CLIPS)
    # docs/compare.md: LPIPS needs the most videos (129 from the synth-test m2p − static spread); the issue
    # expects 64–200
    assert 129 <= synth_bench.BENCH_CLIPS <= 200


def _tracks(seed: int, indices, seconds: float):
    return [synth_track(_rng(seed, i), seconds, sample_rate=22050) for i in indices]


def test_bench_music_is_none_of_the_other_splits():
    """Every bench clip's music differs from every clip of synth-test/train (seed 0), the m2p validation clips
    (seed 1) and the first training clips (seed 11): equal waveforms would mean a shared random stream."""
    assert synth_bench.BENCH_SEED not in synth_bench.USED_SEEDS
    seconds = synth_bench.bench_config().seconds
    bench = _tracks(synth_bench.BENCH_SEED, range(synth_bench.BENCH_CLIPS), seconds)
    others = [t for seed in synth_bench.USED_SEEDS for t in _tracks(seed, range(12), seconds)]
    for b in bench:
        for o in others:
            assert not (b.bpm == o.bpm and np.array_equal(b.audio, o.audio))
    assert len({(t.bpm, t.genre) for t in bench}) > 10  # varied tempi and genres, not one clip repeated


def test_bench_split_made_once_in_the_cache_and_named(tmp_path, monkeypatch):
    from evalkit.data import registry
    from evalkit.runner import resolve_split

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(synth_bench, "BENCH_CLIPS", 2)
    monkeypatch.setattr(synth_bench, "default_config",
                        lambda seed: SynthConfig(train=5, test=5, seconds=1.5, size=32, fps=10.0, seed=seed))
    assert resolve_split("synth-bench", None) == ("synth", "bench")
    split = registry.get_split("synth", "bench")
    assert len(split) == 2 and split.name == "synth-bench"
    root = synth_bench.bench_root()
    assert root.parent == tmp_path / "cache" / "data" and f"-{synth_bench.BENCH_SEED}-2" in root.name
    stamp = (root / "sdgpip.json").stat().st_mtime_ns
    assert len(registry.get_split("synth", "bench")) == 2
    assert (root / "sdgpip.json").stat().st_mtime_ns == stamp  # reused, not regenerated
    with pytest.raises(EvalkitError, match="one part"):
        synth_bench.get_split("train")


def test_bench_board_registered_and_ci_checks_the_small_split():
    import typer

    from evalkit.cli import leaderboard as leaderboard_cli
    from evalkit.leaderboard import BOARDS, board_root

    assert (BOARDS["synth-bench"].dataset, BOARDS["synth-bench"].part) == ("synth", "bench")
    assert board_root("synth-bench") is None  # the embedded bench clips, no --root
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as the evalkit command is
    leaderboard_cli.register(app)
    check = typer.main.get_command(app).commands["leaderboard"].commands["check"]
    assert next(p.default for p in check.params if p.name == "split") == "synth-test"
