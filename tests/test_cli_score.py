"""`evalkit score` end to end, and every bad input: exit code 2 with one line, never a traceback."""
import subprocess
import sys

import av
import numpy as np
import pytest

from evalkit.cli import main
from evalkit.io.video import write_video


def clip(path, n=6, h=32, w=48, seed=0, fps=24):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    return write_video(path, frames, fps)


@pytest.fixture
def dirs(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    for i in range(2):
        clip(gt / f"s{i}.mp4", seed=i)
        clip(pred / f"s{i}.mp4", seed=10 + i)
    return pred, gt


def run_cli(*args):
    """Run the real console entry point in a subprocess: exit code and output as a user sees them."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from evalkit.cli import main; sys.exit(main())", *args],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_score_writes_results(dirs, tmp_path):
    pred, gt = dirs
    out = tmp_path / "out"
    code = main(["score", "--pred", str(pred), "--gt", str(gt), "--metrics", "ssim,psnr,l1", "--out", str(out),
                 "--format", "csv", "--jobs", "2"])
    assert code == 0
    import json

    record = json.loads((out / "results.json").read_text())
    assert record["counts"]["videos"] == 2 and record["metrics"]["ssim"]["preset"] == "clean"
    assert "torch" in record["versions"] and record["settings"]["jobs"] == 2
    assert (out / "per_video.csv").read_text().count("\n") == 3


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_corrupt_file(dirs):
    pred, gt = dirs
    (pred / "s0.mp4").write_bytes(b"\x00\x00\x00 not a video at all" * 10)
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr")
    assert_one_line_error(code, err, "s0.mp4", "cannot decode")


def test_empty_directory(tmp_path, dirs):
    _, gt = dirs
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("score", "--pred", str(tmp_path / "empty"), "--gt", str(gt), "--metrics", "psnr")
    assert_one_line_error(code, err, "empty", "no videos found")


def test_missing_partner(dirs):
    pred, gt = dirs
    (pred / "s1.mp4").unlink()
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr")
    assert_one_line_error(code, err, "s1.mp4", "--allow-missing-pred")


def test_unequal_lengths(dirs):
    pred, gt = dirs
    clip(pred / "s0.mp4", n=4, seed=3)
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr")
    assert_one_line_error(code, err, "frame counts differ", "--length truncate")
    assert main(["score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--length", "truncate"]) == 0


def test_zero_frames(dirs):
    pred, gt = dirs
    (pred / "s0.mp4").unlink()
    # a Matroska file whose video stream holds no frames (only an audio packet is muxed)
    with av.open(str(pred / "s0.mkv"), "w") as out:
        v = out.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in list(a.encode(frame)) + list(a.encode()):
            out.mux(packet)
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr")
    assert_one_line_error(code, err, "s0.mkv", "zero frames")


def test_different_sizes_need_resize_option(dirs, tmp_path):
    pred, gt = dirs
    clip(pred / "s0.mp4", h=64, w=96, seed=4)
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr")
    assert_one_line_error(code, err, "frame sizes differ", "--resize-pred-to-gt")
    out = tmp_path / "o"
    assert main(["score", "--pred", str(pred), "--gt", str(gt), "--metrics", "psnr", "--resize-pred-to-gt",
                 "--out", str(out)]) == 0
    import json

    assert json.loads((out / "results.json").read_text())["counts"]["resized"] == 1


def test_unknown_metric_and_preset(dirs):
    pred, gt = dirs
    code, _, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "nope")
    assert_one_line_error(code, err, "unknown metric")


def test_python_api_returns_same_frame(dirs):
    import evalkit

    pred, gt = dirs
    df = evalkit.score(pred, gt, metrics=["psnr", "l1"])
    assert list(df["metric"]) == ["psnr", "l1"] and len(df.attrs["per_video"]) == 2
