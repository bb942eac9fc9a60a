"""Reference keypoints as a user has them: BlazePose on the reference image on every split, counted."""
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


def test_m2p_estimates_reference_keypoints_on_every_split(checkpoint, tmp_path, monkeypatch):
    """The reference's keypoints come from BlazePose on the reference image, whether or not the split has them
    (counted 'reference_keypoints_estimated'; the run's info says so); estimate_reference=0 reads the split's
    (counted 'reference_keypoints_from_split') and has none on wild; a missing backend is counted, not fatal."""
    import cv2

    cv2.imwrite(str(tmp_path / "r.png"), np.zeros((32, 32, 3), np.uint8))
    body = np.ones((17, 3))
    monkeypatch.setattr(evalkit.pose, "image_keypoints", lambda image: body)
    wild = Sample("w", tmp_path / "v.mp4", tmp_path / "m.wav", tmp_path / "r.png", 10.0, 4)
    split = Sample("s", tmp_path / "v.mp4", tmp_path / "m.wav", tmp_path / "r.png", 10.0, 4,
                   reference_joints2d=np.zeros((17, 3)))
    gen = make_generator("m2p", GeneratorContext(options={"checkpoint": str(checkpoint)}))
    assert gen.reference_keypoints(wild) is body and gen.reference_keypoints(split) is body
    assert "reference_keypoints_sides_swapped" not in gen.counts  # no side to tell: left as estimated
    assert gen.counts["reference_keypoints_estimated"] == 2 and "reference_keypoints_from_split" not in gen.counts
    assert gen.info()["reference_keypoints"] == "blazepose on the reference image"
    off = make_generator("m2p", GeneratorContext(options={"checkpoint": str(checkpoint), "estimate_reference": "0"}))
    assert off.reference_keypoints(wild) is None and off.reference_keypoints(split) is split.reference_joints2d
    assert off.counts.get("reference_keypoints_from_split") == 1 and "reference_keypoints_estimated" not in off.counts
    assert off.info()["reference_keypoints"] == "the split's annotation"

    def missing(image):
        raise EvalkitError("no PoseLandmarker bundle")

    monkeypatch.setattr(evalkit.pose, "image_keypoints", missing)
    assert gen.reference_keypoints(split) is None and gen.counts["reference_keypoints_unavailable"] == 1


def test_estimated_reference_faces_the_camera():
    """Sides swapped where both the shoulders and the hips say the body faces away (left on the image's left);
    kept where either pair says it faces the camera or neither pair is visible."""
    from evalkit.models.m2p.keypoint_guidance import COCO_FLIP, face_the_camera

    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 2] = np.arange(17), 1.0
    kp[[5, 11], 0], kp[[6, 12], 0] = 10.0, 20.0  # left shoulder and hip on the image's left: seen from behind
    turned, swapped = face_the_camera(kp)
    assert swapped and np.array_equal(turned, kp[list(COCO_FLIP)]) and turned[5, 0] == 20.0 and turned[0, 0] == 0
    assert np.array_equal(face_the_camera(turned)[0], turned) and not face_the_camera(turned)[1]
    mixed = kp.copy()
    mixed[11, 0] = 30.0  # the hips disagree: left as it is
    assert not face_the_camera(mixed)[1]
    hidden = kp.copy()
    hidden[[5, 6, 11, 12], 2] = 0
    assert not face_the_camera(hidden)[1]
