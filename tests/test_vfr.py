"""Variable frame rate (issue 26): a stream whose frame timestamps are not evenly spaced is refused in one line
(exit 2) naming the file and the re-encode that fixes it; constant-rate streams rounded to a coarse time base pass."""
from fractions import Fraction

import av
import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.io.video import decode_video
from test_cli_score import assert_one_line_error, run_cli


def write_stamped(path, stamps_ms, container=None):
    """A tiny H.264 video whose frames carry the given presentation times (milliseconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        for i, t in enumerate(stamps_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


GAP = [0, 33, 67, 100, 200, 233, 267, 300]  # one frame 100 ms after the previous at 30 fps
CFR = [round(i * 1000 / 30) for i in range(12)]  # 33/34 ms: the 1-ms time base rounds a constant rate


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_variable_frame_rate_is_refused(tmp_path, suffix):
    path = write_stamped(tmp_path / f"vfr{suffix}", GAP)
    with pytest.raises(EvalkitError, match="variable frame rate") as err:
        decode_video(path)
    assert str(path) in str(err.value) and "-fps_mode cfr" in str(err.value)
    assert "frame 4 comes after 100.0 ms" in str(err.value) and "\n" not in str(err.value)


def test_constant_rate_on_a_coarse_time_base_passes(tmp_path):
    video = decode_video(write_stamped(tmp_path / "cfr.mkv", CFR))
    assert video.num_frames == len(CFR) and video.fps == pytest.approx(30.0)


def test_irregular_but_within_two_percent_passes(tmp_path):
    stamps = [0, 100, 201, 300, 401, 500]  # ±1 ms at 10 fps: the container's rounding, not a rate change
    assert decode_video(write_stamped(tmp_path / "ok.mkv", stamps)).num_frames == len(stamps)


def test_cli_refuses_vfr_in_one_line(tmp_path):
    write_stamped(tmp_path / "pred" / "a.mkv", GAP)
    write_stamped(tmp_path / "gt" / "a.mkv", CFR[:len(GAP)])
    code, _, err = run_cli("score", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "-m", "psnr")
    assert_one_line_error(code, err, "a.mkv", "variable frame rate", "ffmpeg")
