"""Issue 26's bad-input campaign as CLI tests: each case is refused in one line (exit 2, no traceback) or handled
by the documented policy of docs/bad-inputs.md. Every test makes its own tiny inputs."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from evalkit.cli import main
from evalkit.io.video import decode_video, write_video
from evalkit.results import outdir
from test_cli_score import assert_one_line_error, clip, run_cli


def frame_folder(path, frames, fps="24"):
    path.mkdir(parents=True)
    (path / "fps.txt").write_text(fps)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(path / f"{i:03d}.png")
    return path


def test_16bit_grey_png_frames_are_scaled_not_saturated(tmp_path):
    # PIL's convert("RGB") clips 16-bit values at 255; the frames must read as their 8-bit scaling
    grey16 = np.random.default_rng(0).integers(0, 65536, size=(3, 20, 24), dtype=np.uint16)
    video = decode_video(frame_folder(tmp_path / "v16", grey16))
    expected = np.rint(grey16.astype(np.float64) * 255 / 65535)
    assert video.frames.dtype == np.uint8 and video.frames.shape == (3, 20, 24, 3)
    assert np.abs(video.frames[..., 1].astype(np.float64) - expected).max() == 0  # exact: rounding is defined
    assert (video.frames[..., 0] == video.frames[..., 2]).all()


def test_16bit_frames_score_as_their_8bit_copy(tmp_path):
    grey16 = np.random.default_rng(1).integers(0, 65536, size=(3, 20, 24), dtype=np.uint16)
    grey8 = np.rint(grey16.astype(np.float64) * 255 / 65535).astype(np.uint8)
    frame_folder(tmp_path / "pred" / "s0", grey16)
    frame_folder(tmp_path / "gt" / "s0", grey8)
    out = tmp_path / "out"
    code = main(["score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-m", "psnr,l1",
                 "--out", str(out)])
    assert code == 0
    rows = json.loads((out / "results.json").read_text())["aggregate"]
    values = {row["metric"]: row["value"] for row in rows}
    assert values["l1"] == pytest.approx(0.0, abs=1e-12) and values["psnr"] == pytest.approx(100.0, abs=1e-9)


def test_non_numeric_fps_txt(tmp_path):
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    frame_folder(tmp_path / "pred" / "s0", frames, fps="abc")
    frame_folder(tmp_path / "gt" / "s0", frames)
    code, _, err = run_cli("score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-m", "psnr")
    assert_one_line_error(code, err, "fps.txt", "'abc'", "--fps")


@pytest.mark.parametrize("metric,least", [("ssim", 11), ("lpips", 31)])
def test_frames_below_a_metrics_minimum_size(tmp_path, metric, least):
    for side in ("pred", "gt"):
        clip(tmp_path / side / "s0.mp4", n=2, h=10, w=10)
    code, _, err = run_cli("score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-m", metric,
                           "--out", str(tmp_path / "out"))
    assert_one_line_error(code, err, metric, f"at least {least}×{least}", "10×10")
    assert not (tmp_path / "out" / "results.json").exists()


def test_lpips_minimum_is_the_smallest_size_the_network_takes():
    import torch

    from evalkit.features.lpips_net import _SLICES, _trunk, min_input_size

    for net in ("alex", "vgg"):
        least, trunk = min_input_size(net), _trunk(net)[:_SLICES[net][-1]]  # the layers LPIPS compares
        trunk(torch.zeros(1, 3, least, least))  # runs
        with pytest.raises(RuntimeError):
            trunk(torch.zeros(1, 3, least - 1, least - 1))


def test_truncated_local_lpips_weights(tmp_path):
    from evalkit.features.lpips_net import _heads_path

    truncated = tmp_path / "alex.pth"
    truncated.write_bytes(_heads_path("alex").read_bytes()[:1000])
    for side in ("pred", "gt"):
        clip(tmp_path / side / "s0.mp4", n=2)
    code, _, err = run_cli("score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-m", "lpips",
                           "--opt", f"lpips.weights={truncated}")
    assert_one_line_error(code, err, "alex.pth", "cannot read LPIPS backbone weights")


def test_truncated_cached_weights(tmp_path, monkeypatch):
    from evalkit.weights.registry import load

    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path))
    cached = tmp_path / "weights" / "lpips-alex-0.1.safetensors"
    cached.parent.mkdir()
    cached.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": {\"dtype\"")  # header cut short
    from evalkit.errors import EvalkitError

    import evalkit.weights.lpips  # noqa: F401  (registers the spec)

    with pytest.raises(EvalkitError, match="cannot read cached weights .*delete the file"):
        load("lpips-alex")


def test_split_list_with_non_utf8_bytes(tmp_path):
    splits = tmp_path / "root" / "splits"
    splits.mkdir(parents=True)
    (splits / "crossmodal_test.txt").write_bytes(b"gBR_sBM_cAll_d04_mBR0_ch01\n\xff\xfebad\n")
    code, _, err = run_cli("data", "validate", str(tmp_path / "root"))
    assert_one_line_error(code, err, "crossmodal_test.txt", "not UTF-8")


def test_audio_much_shorter_than_the_video_has_no_value(tmp_path):
    # 0.3 s of music under a 4-s video: the audio metric refuses the video (counted, exit 3), never a number
    frames = np.random.default_rng(0).integers(0, 256, size=(96, 32, 48, 3), dtype=np.uint8)
    music = (0.1 * np.sin(np.arange(4800) / 16000 * 2 * np.pi * 440)).astype(np.float32)
    for side in ("pred", "gt"):
        write_video(tmp_path / side / "s0.mp4", frames, 24, audio=music, sample_rate=16000)
    out = tmp_path / "out"
    code, _, err = run_cli("score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                           "-m", "av_align,psnr", "--out", str(out))
    assert code == 3 and "Traceback" not in err, err
    assert "av_align failed for 1 video" in err and "under a 4.00-s video" in err
    record = json.loads((out / "results.json").read_text())
    assert record["errors"][0]["metric"] == "av_align" and "needs ≥ 90%" in record["errors"][0]["error"]


@pytest.fixture
def pair(tmp_path):
    for side, seed in (("pred", 1), ("gt", 2)):
        clip(tmp_path / side / "s0.mp4", n=2, seed=seed)
    return tmp_path / "pred", tmp_path / "gt"


def test_out_is_an_existing_file(pair, tmp_path):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli("score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr",
                           "--out", str(tmp_path / "afile"))
    assert_one_line_error(code, err, "afile", "is a file")


def test_out_under_a_file(pair, tmp_path):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli("score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr",
                           "--out", str(tmp_path / "afile" / "sub"))
    assert_one_line_error(code, err, "afile/sub", "cannot be created")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_not_writable(pair, tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o555)
    code, _, err = run_cli("score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr", "--out", str(locked))
    assert_one_line_error(code, err, "ro", "not writable")


def test_out_in_use_by_another_run(pair, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / outdir.LOCK_FILE).write_text(f"{os.getppid()}\n")  # a live process other than this one
    code, _, err = run_cli("score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr", "--out", str(out))
    assert_one_line_error(code, err, "in use by another evalkit run")
    assert not (out / "results.json").exists()
    (out / outdir.LOCK_FILE).write_text("999999999\n")  # a killed run's lock: taken over, then released
    assert main(["score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr", "--out", str(out)]) == 0
    assert (out / "results.json").is_file() and not (out / outdir.LOCK_FILE).exists()


def test_interrupt_prints_one_line_and_leaves_nothing(pair, tmp_path, monkeypatch, capfd):
    import evalkit.scoring

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evalkit.scoring, "run", interrupted)
    out = tmp_path / "out"
    code = main(["score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr", "--out", str(out)])
    assert code == 130 and capfd.readouterr().err.strip() == "evalkit: interrupted"
    assert sorted(p.name for p in out.iterdir()) == []  # no results, no lock


def test_interrupted_write_keeps_the_previous_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    outdir.write_atomic(target, "old\n")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(outdir.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        outdir.write_atomic(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_fps_option_does_not_override_a_containers_rate(pair, tmp_path):
    # --fps is for frame folders; a 24-fps mp4 stays 24 fps (it was silently rescored at 12)
    out = tmp_path / "out"
    assert main(["score", "--pred", str(pair[0]), "--gt", str(pair[1]), "-m", "psnr", "--fps", "12",
                 "--out", str(out)]) == 0
    assert (out / "per_video.csv").read_text().splitlines()[1].split(",")[4] == "24"


def test_ctrl_c_during_a_real_run(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    for side, seed in (("pred", 1), ("gt", 2)):
        for i in range(3):
            clip(tmp_path / side / f"s{i}.mp4", n=48, h=64, w=64, seed=seed * 10 + i)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from evalkit.cli import main; sys.exit(main())",
                             "score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-m", "ssim",
                             "--out", str(out)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while not (out / outdir.LOCK_FILE).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the lock appears once --out is claimed, before the first video is scored
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "evalkit: interrupted" and "Traceback" not in err, err
    assert list(out.iterdir()) == []  # no results, no half-written file, no lock
