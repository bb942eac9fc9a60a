"""DWPose pre/post-processing, exercised end to end with tiny ONNX models of the real signatures.

The detector stand-in returns a constant raw YOLOX tensor (1, 8400, 85) whose anchors encode boxes we
choose; the pose stand-in computes simcc_x / simcc_y (1, 133, 576 / 768) as the column / row maxima of the
normalised crop's first channel, so the argmax lands on the brightest pixel of the crop. A bright blob at
a known frame pixel must therefore come back at that pixel through letterbox -> decode -> crop -> SimCC ->
back-projection.
"""
import numpy as np
import pytest

pytest.importorskip("onnx")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from evalkit.errors import EvalkitError  # noqa: E402
from evalkit.io.video import Video  # noqa: E402
from evalkit.pose import dwpose, extract, extract_many  # noqa: E402

CPU = ("CPUExecutionProvider",)


def _save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def make_detector(path, raw: np.ndarray):
    """'images' (1,3,640,640) -> 'output' = raw + 0·mean(images): constant, but wired to its input."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["raw", "z"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "yolox_stub",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8400, 85])],
        [numpy_helper.from_array(raw.astype(np.float32)[None], "raw"),
         numpy_helper.from_array(np.array(0, np.float32), "zero")])
    _save(graph, path)


def make_pose(path, gain=0.4):
    """'input' (1,3,384,288) -> simcc_x (1,133,576), simcc_y (1,133,768): gain · column/row maxima of channel 0,
    each bin doubled (split ratio 2)."""
    def profile(axis, n, out):
        return [
            helper.make_node("ReduceMax", ["c0"], [f"{out}_p"], axes=[axis], keepdims=0),  # (1,1,n)
            helper.make_node("Unsqueeze", [f"{out}_p", "ax3"], [f"{out}_u"]),  # (1,1,n,1)
            helper.make_node("Concat", [f"{out}_u", f"{out}_u"], [f"{out}_d"], axis=3),  # (1,1,n,2)
            helper.make_node("Reshape", [f"{out}_d", f"{out}_shape"], [f"{out}_r"]),  # (1,1,2n)
            helper.make_node("Mul", [f"{out}_r", "gain"], [f"{out}_g"]),
            helper.make_node("Expand", [f"{out}_g", f"{out}_full"], [out]),  # (1,133,2n)
        ]

    nodes = [helper.make_node("Gather", ["input", "idx0"], ["c0"], axis=1)]  # (1,1,384,288)
    nodes += profile(2, 288, "simcc_x") + profile(3, 384, "simcc_y")
    inits = [numpy_helper.from_array(np.array([0], np.int64), "idx0"),
             numpy_helper.from_array(np.array([3], np.int64), "ax3"),
             numpy_helper.from_array(np.array(gain, np.float32), "gain"),
             numpy_helper.from_array(np.array([1, 1, 576], np.int64), "simcc_x_shape"),
             numpy_helper.from_array(np.array([1, 1, 768], np.int64), "simcc_y_shape"),
             numpy_helper.from_array(np.array([1, 133, 576], np.int64), "simcc_x_full"),
             numpy_helper.from_array(np.array([1, 133, 768], np.int64), "simcc_y_full")]
    graph = helper.make_graph(
        nodes, "rtmpose_stub",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 384, 288])],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, 133, 576]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, 133, 768])], inits)
    _save(graph, path)


def encode_box(raw, box_xyxy, ratio, score_obj, score_cls, cls=0, stride=8):
    """Write one anchor of a raw YOLOX tensor so that it decodes to ``box_xyxy`` (frame pixels): the inverse
    of (out + grid)·stride and exp(out)·stride, on the 640×640 letterbox (frame · ratio)."""
    x1, y1, x2, y2 = np.asarray(box_xyxy, float) * ratio
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    gx, gy = int(cx // stride), int(cy // stride)
    offset = {8: 0, 16: 80 * 80, 32: 80 * 80 + 40 * 40}[stride]
    row = offset + gy * (640 // stride) + gx
    raw[row, :4] = [cx / stride - gx, cy / stride - gy, np.log(w / stride), np.log(h / stride)]
    raw[row, 4] = score_obj
    raw[row, 5 + cls] = score_cls
    return row


H, W = 600, 400  # letterbox ratio min(640/600, 640/400) = 16/15: a non-trivial rescale
RATIO = min(640 / H, 640 / W)


def blob_frames(centres, sigma=3.0):
    """Black frames, each with one Gaussian blob of peak 255 exactly at an integer pixel (x, y)."""
    yy, xx = np.mgrid[0:H, 0:W]
    frames = np.zeros((len(centres), H, W, 3), np.uint8)
    for i, (x, y) in enumerate(centres):
        frames[i, ..., 0] = np.round(255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)))
    return frames


@pytest.fixture()
def models(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    raw = np.zeros((8400, 85))
    # a person box whose 1.25-padded height is exactly 384 and width fits the 288:384 aspect -> crop scale 1
    person = (100.0, 146.4, 300.0, 453.6)  # centre (200, 300), height 307.2
    encode_box(raw, person, RATIO, 0.9, 0.9)
    encode_box(raw, (90.0, 140.0, 290.0, 450.0), RATIO, 0.9, 0.8)  # overlapping, lower score: NMS removes it
    encode_box(raw, (10.0, 10.0, 60.0, 60.0), RATIO, 0.95, 0.99, cls=1, stride=16)  # not a person
    folder = tmp_path / "dw"
    folder.mkdir()
    make_detector(folder / dwpose.DET_FILE, raw)
    make_pose(folder / dwpose.POSE_FILE)
    empty = tmp_path / "dw_empty"
    empty.mkdir()
    make_detector(empty / dwpose.DET_FILE, np.zeros((8400, 85)))
    make_pose(empty / dwpose.POSE_FILE)
    return folder, empty, person  # person: the box the blobs are cropped from


def test_blob_comes_back_at_its_pixel(models):
    folder, _, _ = models
    centres = [(200, 300), (150, 200), (260, 420)]
    video = Video(blob_frames(centres), 30.0, folder / "clip.mp4")
    track = extract(video, backend="dwpose", cache=False, model_dir=folder, providers=CPU)
    assert track.joints.shape == (3, 17, 2) and track.present.all()
    # crop scale 1 and an integral box centre: the blob peak maps onto a crop pixel, so back-projection is
    # exact up to the float32 rounding of the detector output (tolerance 1e-3 px)
    expected = np.repeat(np.asarray(centres, float)[:, None, :], 17, axis=1)
    np.testing.assert_allclose(track.joints, expected, atol=1e-3)
    # conf = gain · normalised peak, min over x/y: 0.4 · (255 − 123.675) / 58.395
    np.testing.assert_allclose(track.conf, 0.4 * (255 - 123.675) / 58.395, rtol=1e-4)
    assert track.info["backend"] == "dwpose" and set(track.info["model_sha256"]) == {"detector", "pose"}
    assert track.info["provider"] == "CPUExecutionProvider"


def test_back_projection_at_scale_half(models, tmp_path):
    """A box twice as large: crop scale 1/2, so the blob returns within one crop pixel = 2 frame px."""
    raw = np.zeros((8400, 85))
    encode_box(raw, (20.0, 10.0, 380.0, 10.0 + 2 * 384 / 1.25), RATIO, 0.9, 0.9)
    folder = tmp_path / "dw_big"
    folder.mkdir()
    make_detector(folder / dwpose.DET_FILE, raw)
    make_pose(folder / dwpose.POSE_FILE)
    centres = [(201, 333), (120, 500)]
    track = extract(Video(blob_frames(centres, sigma=5.0), 25.0, folder / "c.mp4"), backend="dwpose",
                    cache=False, model_dir=folder, providers=CPU)
    err = np.abs(track.joints - np.asarray(centres, float)[:, None, :])
    assert err.max() <= 2.0, err.max()


def test_no_person_gives_nan_not_crash(models):
    _, empty, _ = models
    track = extract(Video(blob_frames([(50, 50)] * 2), 24.0, empty / "x.mp4"), backend="dwpose", cache=False,
                    model_dir=empty, providers=CPU)
    assert not track.present.any() and np.isnan(track.joints).all() and (track.conf == 0).all()
    assert track.info["frames_with_person"] == 0


def test_letterbox_is_bgr_padded_114():
    frame = np.zeros((H, W, 3), np.uint8)
    frame[..., 0] = 200  # red
    image, ratio = dwpose.letterbox(frame)
    assert image.shape == (3, 640, 640) and image.dtype == np.float32 and ratio == pytest.approx(RATIO)
    new_w, new_h = int(W * ratio), int(H * ratio)
    assert (image[2, :new_h, :new_w] == 200).all() and (image[:2, :new_h, :new_w] == 0).all()  # R last (BGR)
    assert (image[:, :, new_w:] == 114).all() and (image[:, new_h:, :] == 114).all()


def test_detection_rules():
    raw = np.zeros((8400, 85))
    a = encode_box(raw, (100, 100, 300, 400), 1.0, 0.9, 0.9)
    b = encode_box(raw, (105, 95, 305, 405), 1.0, 0.9, 0.85, stride=16)  # IoU > 0.45 with a
    c = encode_box(raw, (400, 100, 500, 300), 1.0, 0.6, 0.6)  # separate, 0.36 > 0.3
    boxes, scores = dwpose.yolox_decode(raw, (640, 640))
    np.testing.assert_allclose(boxes[[a, b, c]], [[100, 100, 300, 400], [105, 95, 305, 405], [400, 100, 500, 300]],
                               atol=1e-9)
    kept = dwpose.nms(boxes[[a, b, c]], scores[[a, b, c], 0], 0.45)
    assert kept == [0, 2]  # b suppressed by a
    box, score = dwpose.best_person(boxes, scores, ratio=2.0)
    np.testing.assert_allclose(box, [50, 50, 150, 200])
    assert score == pytest.approx(0.81)
    only_weak = np.zeros((8400, 85))
    encode_box(only_weak, (100, 100, 300, 400), 1.0, 0.5, 0.5)  # 0.25: above 0.1, below 0.3
    assert dwpose.best_person(*dwpose.yolox_decode(only_weak, (640, 640)), ratio=1.0) is None


def test_crop_decode_and_normalise_formulas():
    centre, scale = dwpose.box_to_centre_scale(np.array([0, 0, 100, 100.0]), 1.25, 288 / 384)
    np.testing.assert_allclose(centre, [50, 50])
    np.testing.assert_allclose(scale, [125, 125 / 0.75])  # widened to 288:384
    m = dwpose.crop_matrix(centre, scale, (288, 384))
    np.testing.assert_allclose(m @ [50, 50, 1], [144, 192])  # box centre -> crop centre
    pts = np.array([[0.0, 0.0], [288, 384], [10, 300]])
    back = dwpose.back_project(pts, centre, scale, (288, 384))
    np.testing.assert_allclose(np.c_[back, np.ones(3)] @ m.T, pts, atol=1e-9)  # inverse of the crop
    sx = np.array([[0.1, 0.9, 0.2, 0.0], [-1, -2, -3, -4.0]])
    sy = np.array([[0.3, 0.1, 0.5, 0.0, 0.0, 0.0], [-1, -1, -1, -1, -1, -1.0]])
    locs, vals = dwpose.simcc_decode(sx, sy, 2.0)
    np.testing.assert_allclose(locs[0], [0.5, 1.0])
    np.testing.assert_allclose(vals, [0.5, -1])  # min of the two maxima
    assert np.isnan(locs[1]).all()
    px = np.array([[[0, 128, 255]]], np.uint8)
    np.testing.assert_allclose(dwpose.normalise(px)[:, 0, 0], (np.array([0, 128, 255]) - dwpose.MEAN) / dwpose.STD,
                               rtol=1e-6)


def test_cache_key_follows_settings(models):
    folder, _, _ = models
    video = Video(blob_frames([(200, 300)]), 30.0, folder / "clip.mp4")
    first = extract(video, backend="dwpose", model_dir=folder, providers=CPU)
    again = extract(video, backend="dwpose", model_dir=folder, providers=CPU)
    assert again.info == first.info and np.array_equal(again.joints, first.joints)
    other = extract(video, backend="dwpose", model_dir=folder, providers=CPU, bbox_padding=1.5)
    assert other.info["settings"]["bbox_padding"] == 1.5
    from evalkit.paths import cache_dir

    assert len(list(cache_dir("pose", "dwpose").glob("*.npz"))) == 2


def test_parallel_equals_sequential(models):
    folder, _, _ = models
    videos = [Video(blob_frames([(200, 300), (180, 260)]), 30.0, folder / "a.mp4"),
              Video(blob_frames([(150, 200)]), 30.0, folder / "b.mp4")]
    seq = extract_many(videos, "dwpose", jobs=1, cache=False, model_dir=folder, providers=CPU)
    par = extract_many(videos, "dwpose", jobs=2, cache=False, model_dir=folder, providers=CPU)
    for s, p in zip(seq, par):
        assert np.array_equal(s.joints, p.joints) and np.array_equal(s.conf, p.conf) and s.info == p.info


def test_bad_input_messages(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(EvalkitError, match="yolox_l.onnx, dw-ll_ucoco_384.onnx"):
        extract(Video(np.zeros((1, 8, 8, 3), np.uint8), 1.0, tmp_path / "v.mp4"), backend="dwpose",
                model_dir=tmp_path)
    (tmp_path / dwpose.DET_FILE).write_bytes(b"not onnx")
    (tmp_path / dwpose.POSE_FILE).write_bytes(b"not onnx")
    with pytest.raises(EvalkitError, match="cannot load ONNX model"):
        extract(Video(np.zeros((1, 8, 8, 3), np.uint8), 1.0, tmp_path / "v.mp4"), backend="dwpose",
                model_dir=tmp_path, cache=False)
    with pytest.raises(EvalkitError, match="has no option .* valid keys"):
        extract(tmp_path / "v.mp4", backend="dwpose", model_dirr=tmp_path)
    with pytest.raises(EvalkitError, match="unknown pose backend"):
        extract(tmp_path / "v.mp4", backend="openpose")
