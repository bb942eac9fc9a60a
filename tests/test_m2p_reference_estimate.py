"""Reference keypoints where a split has none (wild): BlazePose on the reference image, counted."""
import numpy as np
import pytest
import torch

import evalkit.pose
from evalkit.data.sample import Sample
from evalkit.errors import EvalkitError
from evalkit.generators import GeneratorContext, make_generator
from evalkit.pose import PoseTrack

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _track(present: bool):
    joints = np.tile(np.arange(17, dtype=np.float64)[:, None], (1, 2))[None] + 3.0
    conf = np.linspace(0.1, 1.0, 17)[None]
    return PoseTrack(joints if present else np.full_like(joints, np.nan), conf if present else np.zeros((1, 17)),
                     np.array([present]), 1.0, (8, 6), {})


def test_image_keypoints_keeps_confident_joints(monkeypatch):
    """One image through ``extract`` as a one-frame video; joints under min_conf (and a missing person) get
    conf 0, coordinates stay finite."""
    seen = {}
    monkeypatch.setattr(evalkit.pose, "extract",
                        lambda video, backend, **kw: seen.update(shape=video.frames.shape, backend=backend) or _track(True))
    kp = evalkit.pose.image_keypoints(np.zeros((8, 6, 3), np.uint8))
    assert seen == {"shape": (1, 8, 6, 3), "backend": "blazepose"} and kp.shape == (17, 3)
    conf = np.linspace(0.1, 1.0, 17)
    np.testing.assert_allclose(kp[:, 2], np.where(conf >= 0.5, conf, 0))
    np.testing.assert_allclose(kp[:, 0], np.arange(17) + 3.0)
    monkeypatch.setattr(evalkit.pose, "extract", lambda video, backend, **kw: _track(False))
    none = evalkit.pose.image_keypoints(np.zeros((8, 6, 3), np.uint8))
    assert np.isfinite(none).all() and (none[:, 2] == 0).all()


@pytest.fixture()
def checkpoint(tmp_path):
    from evalkit.models.m2p.config import get_config
    from evalkit.models.m2p.model import M2PModel, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(M2PModel(get_config("micro")), tmp_path / "micro.safetensors", {"stages": []})


def test_m2p_estimates_missing_reference_keypoints(checkpoint, tmp_path, monkeypatch):
    """A sample without reference keypoints gets BlazePose's (counted 'reference_keypoints_estimated'); one with
    them keeps its own; estimate_reference=0 leaves them out; a missing backend is counted, not fatal."""
    import cv2

    cv2.imwrite(str(tmp_path / "r.png"), np.zeros((32, 32, 3), np.uint8))
    body = np.ones((17, 3))
    monkeypatch.setattr(evalkit.pose, "image_keypoints", lambda image: body)
    wild = Sample("w", tmp_path / "v.mp4", tmp_path / "m.wav", tmp_path / "r.png", 10.0, 4)
    split = Sample("s", tmp_path / "v.mp4", tmp_path / "m.wav", tmp_path / "r.png", 10.0, 4,
                   reference_joints2d=np.zeros((17, 3)))
    gen = make_generator("m2p", GeneratorContext(options={"checkpoint": str(checkpoint)}))
    assert gen.reference_keypoints(wild) is body and gen.counts["reference_keypoints_estimated"] == 1
    assert gen.reference_keypoints(split) is split.reference_joints2d
    off = make_generator("m2p", GeneratorContext(options={"checkpoint": str(checkpoint), "estimate_reference": "0"}))
    assert off.reference_keypoints(wild) is None and "reference_keypoints_estimated" not in off.counts

    def missing(image):
        raise EvalkitError("no PoseLandmarker bundle")

    monkeypatch.setattr(evalkit.pose, "image_keypoints", missing)
    assert gen.reference_keypoints(wild) is None and gen.counts["reference_keypoints_unavailable"] == 1
