"""Bounded memory (issue 26): videos decode lazily in chunks and the frame metrics stream over them, batches sized
by a byte budget; chunked scoring equals whole-video scoring to 1e-12 (SSIM/PSNR/L1) and float32 rounding (LPIPS)."""
import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.io.item import ScoreItem
from evalkit.io.pairing import reconcile
from evalkit.io.video import decode_video, write_video
from evalkit.memory import batch_frames, chunk_frames, parse_size
from evalkit.metrics import build
from evalkit.runtime import Runtime
from evalkit.scoring import ScoreConfig, run
from frames import random_pair
from test_cli_score import assert_one_line_error, run_cli

FRAMES, H, W = 21, 40, 48
TOLERANCE = {"ssim": 1e-12, "psnr": 1e-12, "l1": 1e-12, "lpips": 1e-6}  # LPIPS: float32 network


def budget_for(chunk: int) -> int:
    """A budget whose decoded pair chunks hold ``chunk`` frames at H×W (evalkit.memory.DECODE_SHARE = 1/8)."""
    return 8 * 2 * 3 * H * W * chunk


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    gt, pred = random_pair(3, n=FRAMES, h=H, w=W)
    write_video(root / "gt" / "a.mp4", gt, 24)
    write_video(root / "pred" / "a.mp4", pred, 24)
    return root / "pred", root / "gt"


def test_chunks_cover_the_video_once_in_order(pair):
    video = decode_video(pair[0] / "a.mp4")
    whole = video.frames
    lazy = decode_video(pair[0] / "a.mp4")
    chunks = list(lazy.chunks(4))
    assert [len(c) for c in chunks] == [4, 4, 4, 4, 4, 1]
    assert np.array_equal(np.concatenate(chunks), whole)
    assert lazy._frames is None  # streaming kept no whole-video copy
    head = decode_video(pair[0] / "a.mp4").head(10)
    assert head.num_frames == 10 and np.array_equal(np.concatenate(list(head.chunks(3))), whole[:10])


def test_budget_sizes_chunks_and_batches():
    assert chunk_frames(budget_for(3), H * W, 2) == 3
    assert chunk_frames(1, 1920 * 1080, 2) == 1  # never below one frame
    assert chunk_frames(2**40, 1920 * 1080, 2) == 8  # at most 2**24 pixels a side
    assert batch_frames(2**40, 1920 * 1080, 1600.0, 8) == 1  # VGG at 1080p: one pair a batch
    assert batch_frames(2**40, 256 * 256, 128.0, 8) == 8  # small frames: the metric's own batch
    assert batch_frames(2 * 4 * 128 * 256 * 256, 256 * 256, 128.0, 8) == 4  # WORK_SHARE = 1/2 of the budget


def whole_video_values(name, preset, pred, gt):
    """The reference: every frame through frame_values in one batch, as the pre-streaming code did."""
    metric = build(name, preset)
    values = metric.frame_values(torch.from_numpy(pred), torch.from_numpy(gt)).double().numpy()
    return float(values.mean()), float(values.sum()), len(values)


@pytest.mark.parametrize("name,preset", [("ssim", "clean"), ("ssim", "disco"), ("psnr", "clean"), ("l1", "clean"),
                                         ("lpips", "clean")])
@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_chunked_equals_whole_video(pair, name, preset, chunk):
    pred, gt = decode_video(pair[0] / "a.mp4").frames, decode_video(pair[1] / "a.mp4").frames
    mean, total, n = whole_video_values(name, preset, pred, gt)
    metric = build(name, preset, runtime=Runtime(max_memory=budget_for(chunk)))
    item = ScoreItem("a", decode_video(pair[0] / "a.mp4"), decode_video(pair[1] / "a.mp4"))
    assert item.chunk_frames(metric.runtime.memory_budget()) == chunk
    row = metric.update(item)
    assert row[name] == pytest.approx(mean, rel=TOLERANCE[name], abs=TOLERANCE[name])
    assert metric._state["total"] == pytest.approx(total, rel=TOLERANCE[name], abs=TOLERANCE[name])
    assert metric._state["frames"] == n


def test_engine_rows_do_not_depend_on_the_budget(pair):
    """The whole engine (one decode per chunk shared by every streaming metric) under budgets of 1, 3 and 32-frame
    chunks gives the same rows; chunk borders fall inside the video at 1 and 3."""
    cfg = ScoreConfig(metrics=("ssim", "psnr", "l1", "lpips"))
    rows = [run(pair[0], pair[1], cfg, runtime=Runtime(max_memory=budget_for(c))).rows[0] for c in (1, 3, 32)]
    for name, tol in TOLERANCE.items():
        assert rows[1][name] == pytest.approx(rows[0][name], rel=tol, abs=tol)
        assert rows[2][name] == pytest.approx(rows[0][name], rel=tol, abs=tol)


def test_truncate_and_resize_stay_lazy(pair, tmp_path):
    gt, pred = random_pair(5, n=9, h=24, w=32)
    write_video(tmp_path / "small.mp4", pred[:7, :, :, :], 24)
    small, big = decode_video(tmp_path / "small.mp4"), decode_video(pair[1] / "a.mp4")
    p, g, notes = reconcile(small, big, length="truncate", resize_pred_to_gt=True)
    assert notes == {"resized": 1, "truncated_frames": FRAMES - 7}
    assert (p.num_frames, g.num_frames, p.size) == (7, 7, (H, W))
    chunks = list(p.chunks(3))
    assert [c.shape for c in chunks] == [(3, H, W, 3), (3, H, W, 3), (1, H, W, 3)]
    assert p._frames is None and g._frames is None


@pytest.mark.parametrize("text,size", [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5gb", int(1.5 * 2**30)),
                                       ("100000000", 100000000)])
def test_max_memory_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["abc", "-1G", "10M", "4X"])
def test_bad_max_memory_is_refused(text):
    with pytest.raises(EvalkitError, match="--max-memory"):
        parse_size(text)


def test_bad_max_memory_on_the_command_line(pair):
    code, _, err = run_cli("score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr",
                           "--max-memory", "lots")
    assert_one_line_error(code, err, "--max-memory", "e.g. 4G")


def test_max_memory_on_the_command_line_changes_no_value(pair, tmp_path):
    outs = []
    for budget in ("64M", "4G"):
        code, out, err = run_cli("score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr,l1",
                                 "--max-memory", budget, "--format", "csv")
        assert code == 0, err
        outs.append(out)
    assert outs[0] == outs[1]


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_av_align_streamed_equals_whole_video(chunk):
    """AV-Align's flow over chunks, one frame carried over each border, gives the whole video's IoU, peaks, null and
    content seed exactly; so does the engine's shared decode (Scorer.add) under a budget of ``chunk`` frames."""
    from evalkit.io.audio import Audio
    from evalkit.io.video import Video
    from evalkit.metrics.av_align import AVAlign
    from evalkit.scoring import Scorer
    from test_av_align import moving_pattern
    from test_beats import click_track

    frames = moving_pattern(n=23)
    clicks, _ = click_track(150.0, len(frames) / 24.0)
    item = ScoreItem("v", Video(frames, 24.0, "v.mp4"), None, lambda: Audio(clicks, 22050, "v.mp4", "container"))
    whole = AVAlign(workers=1)
    expected = whole.update(item)
    streamed = AVAlign(workers=1)
    streamed.start_video(item)
    for pred, _ in item.chunks(chunk):
        streamed.update_chunk(pred, None)
    assert streamed.finish_video() == pytest.approx(expected, rel=0, abs=0, nan_ok=True)
    engine = Scorer(ScoreConfig(metrics=("av_align",)), Runtime(max_memory=8 * 3 * 72 * 96 * chunk))
    engine.metrics["av_align"].workers = 1
    row = engine.add(item)
    assert {k: row[k] for k in expected} == pytest.approx(expected, rel=0, abs=0, nan_ok=True)
    for state in (streamed.state_dict(), engine.metrics["av_align"].state_dict()):
        for key, value in whole.state_dict().items():
            if key not in ("null_ms", "update_ms"):  # costs, not values
                np.testing.assert_array_equal(state[key], value)
