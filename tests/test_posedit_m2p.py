"""posedit+m2p: posedit's poses drawn as skeletons drive m2p's denoiser (micro models, CPU)."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from evalkit.models.m2p.config import get_config as m2p_config
from evalkit.models.m2p.model import M2PModel, save_checkpoint as save_m2p
from evalkit.models.posedit.config import get_config as posedit_config
from evalkit.models.posedit.model import PoseDiTModel, save_checkpoint as save_posedit

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    m2p = save_m2p(M2PModel(m2p_config("micro")), out / "m2p.safetensors", {"stages": []})
    posedit = save_posedit(PoseDiTModel(posedit_config("micro")), out / "posedit.safetensors", {"stages": ["vae", "dit"]})
    return m2p, posedit


def test_render_poses_drives_the_denoiser_with_the_drawn_skeleton(checkpoints, tmp_path, monkeypatch):
    """The guidance the sampler gets is the encoders' output on the given poses' skeleton, taken at the model's frame
    rate (nearest frame) and mapped into the model's square; a joint with visibility 0 is not drawn."""
    import cv2

    from evalkit.models.m2p.keypoint_guidance import skeleton_guidance
    from evalkit.models.m2p.pipeline import M2PPipeline

    pipe = M2PPipeline.from_checkpoint(checkpoints[0], device="cpu", guidance_source="keypoints", steps=2)
    with torch.no_grad():  # untrained encoders end in a zero-initialised layer: give them an output
        for param in pipe.sampler.model.guidance.parameters():
            param.normal_(0, 0.2)
    size = pipe.cfg.size  # micro: 32², 10 fps
    cv2.imwrite(str(tmp_path / "r.png"), np.full((2 * size, 2 * size, 3), 90, np.uint8))  # twice the model's side
    rng = np.random.default_rng(0)
    poses = np.concatenate([rng.uniform(8, 56, (40, 17, 2)), np.ones((40, 17, 1))], -1)  # 40 frames at 20 fps
    poses[:, 9, 2] = 0  # a hidden wrist
    seen = {}
    real = pipe.sampler.latents
    monkeypatch.setattr(pipe.sampler, "latents", lambda *a, **kw: seen.update(kw) or real(*a, **kw))
    frames = pipe.render_poses(poses, tmp_path / "r.png", 40, 20.0, seed=0)
    assert frames.shape == (40, 2 * size, 2 * size, 3) and frames.dtype == np.uint8
    expect = poses[::2].copy()  # 20 fps → 10 fps: every other frame
    expect[..., :2] = (expect[..., :2] + 0.5) / 2 - 0.5  # 64-pixel image → the model's 32² square
    expect[:, 9] = 0
    torch.testing.assert_close(seen["guidance"], skeleton_guidance(pipe.sampler.model, expect), rtol=0, atol=0)
    assert seen["guidance"].abs().max() > 0
    moved = expect.copy()
    moved[:, 9, 2] = 1  # drawing the wrist changes the guidance
    assert not torch.equal(seen["guidance"], skeleton_guidance(pipe.sampler.model, moved))


def test_posedit_m2p_generator_makes_a_video_of_the_sample_size(checkpoints, monkeypatch):
    """A video of the sample's size and length, from poses that start at BlazePose's reference pose (a stand-in
    here, seen from behind: turned to face the camera), never SDGPip's exact one."""
    import evalkit.pose
    from evalkit.data.registry import get_split
    from evalkit.generators import GeneratorContext, check_frames, make_generator
    from evalkit.models.m2p.keypoint_guidance import COCO_FLIP

    estimate = np.zeros((17, 3))
    estimate[:, 0], estimate[:, 1], estimate[:, 2] = np.linspace(100, 150, 17), np.linspace(60, 220, 17), 0.9
    monkeypatch.setattr(evalkit.pose, "image_keypoints", lambda image: estimate)  # left joints on the image's left
    sample = sorted(get_split("synth", "test"), key=lambda s: s.id)[0]
    sample = replace(sample, num_frames=12)  # a short clip keeps the CPU test fast
    gen = make_generator("posedit+m2p", GeneratorContext(options={
        "checkpoint": str(checkpoints[1]), "m2p_checkpoint": str(checkpoints[0]), "m2p_steps": "2"}))
    frames = check_frames(gen.generate(sample, seed=0), sample, "posedit+m2p")
    assert frames.shape[0] == 12 and gen.poses_of[sample.id].shape == (12, 17, 3)
    info = gen.info()
    assert info["renderer"] == "m2p skeleton-driven denoiser" and info["poses"]["checkpoint"] == str(checkpoints[1])
    assert gen.pipe.steps == 2 and gen.pipe.keypoint_guided and gen.version.count("sha256:") == 2
    ref, conf = gen.posedit.reference(sample)
    np.testing.assert_array_equal(ref, estimate[list(COCO_FLIP), :2])
    np.testing.assert_array_equal(conf, estimate[:, 2])
    assert gen.posedit.counts["reference_pose_estimated"] == 1 and gen.posedit.counts["reference_pose_sides_swapped"] == 1
