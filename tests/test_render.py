"""SDGPip renderer: geometry against numeric oracles, occlusion, keypoints vs OpenCV projection, determinism."""
import time

import cv2
import numpy as np
import pytest

from evalkit.data.synth import body as body_mod
from evalkit.data.synth import scene
from evalkit.data.synth.body import Primitive, intersect
from evalkit.data.synth.draw import OPENPOSE18_FROM_COCO17, OPENPOSE_COLORS, stroke_sizes
from evalkit.data.synth.preview import demo_motion
from evalkit.data.synth.render import (
    COCO17_FROM_SMPL, MAP_NAMES, SEMANTIC_COLORS, SMPL_JOINT_NAMES, SMPL_PARENTS, Camera, Identity,
    render_sequence, rest_skeleton, t_pose,
)
from evalkit.data.synth.skeleton import FOOT_CLEARANCE, NUM_PARTS, P, REST_BONE_LENGTHS, J, bend
from evalkit.errors import EvalkitError


def ident(seed=0):
    return Identity.random(np.random.default_rng(seed))


def plain_identity():
    return Identity(skin=(200, 160, 130), top=(40, 90, 200), bottom=(50, 50, 60), background=(180, 180, 170),
                    limb_scale=np.ones(NUM_PARTS))


def label_of(part):
    return SEMANTIC_COLORS[P[part] + 1]


def is_part(semantic, part):
    return np.all(semantic == label_of(part), axis=-1)


def test_skeleton_tables_and_rest_pose():
    assert len(SMPL_JOINT_NAMES) == len(SMPL_PARENTS) == 24 and SMPL_PARENTS[0] == -1
    assert all(SMPL_PARENTS[j] < j for j in range(1, 24))
    assert len(COCO17_FROM_SMPL) == 17 and COCO17_FROM_SMPL[5] == J["left_shoulder"]
    rest = t_pose()
    assert rest.shape == (24, 3)
    assert rest[[J["left_foot"], J["right_foot"]], 1].min() == pytest.approx(FOOT_CLEARANCE, abs=1e-12)
    assert 1.45 < rest[J["head"], 1] < 1.6  # head joint; the head's top is ~0.17 m higher
    np.testing.assert_allclose(rest[:, 0], -rest[[0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16,
                                                19, 18, 21, 20, 23, 22], 0], atol=1e-12)  # left/right mirror
    lengths = REST_BONE_LENGTHS * 1.1
    bones = np.linalg.norm(t_pose(lengths)[1:] - t_pose(lengths)[list(SMPL_PARENTS[1:])], axis=1)
    np.testing.assert_allclose(bones, lengths[1:], rtol=1e-12)
    heights = [rest_skeleton(np.random.default_rng(s))[J["head"], 1] for s in range(20)]
    assert 0.1 < max(heights) - min(heights) < 0.45  # varied adults, not clones
    np.testing.assert_array_equal(rest_skeleton(np.random.default_rng(5)), rest_skeleton(np.random.default_rng(5)))


def test_identity_random_is_seeded():
    a, b, c = ident(1), ident(1), ident(2)
    assert a.skin == b.skin and a.top == b.top and np.array_equal(a.limb_scale, b.limb_scale)
    assert (a.top, a.background) != (c.top, c.background)
    assert a.limb_scale.shape == (NUM_PARTS,)
    assert a.limb_scale[P["left_thigh"]] == a.limb_scale[P["right_thigh"]]


def test_shapes_and_dtypes():
    joints = demo_motion(3)
    out = render_sequence(joints, ident(), Camera.default(64))
    for name in ("rgb", "normal", "semantic", "skeleton"):
        assert out[name].shape == (3, 64, 64, 3) and out[name].dtype == np.uint8, name
    assert out["depth"].shape == (3, 64, 64) and out["depth"].dtype == np.float16
    assert out["heatmap"].shape == (3, 17, 16, 16) and out["heatmap"].dtype == np.float16
    assert out["keypoints2d"].shape == (3, 17, 3) and np.all(np.isfinite(out["keypoints2d"]))
    assert float(out["heatmap"].max()) <= 1.0 and float(out["depth"].min()) >= 0.0
    only = render_sequence(joints, ident(), Camera.default(64), maps=("depth",))
    assert set(only) == {"depth", "keypoints2d"}
    np.testing.assert_array_equal(only["depth"], out["depth"])


def test_t_pose_renders_a_centred_person():
    size = 128
    out = render_sequence(t_pose()[None], plain_identity(), Camera.default(size), maps=("semantic", "depth"))
    sem = out["semantic"][0]
    mask = sem.any(-1)
    assert np.array_equal(mask, out["depth"][0] > 0)  # depth and semantic agree on the silhouette
    rows, cols = np.nonzero(mask)
    assert abs(cols.mean() - (size - 1) / 2) < 1.5  # centred (the rest pose is symmetric)
    height = rows.max() - rows.min() + 1
    width = cols.max() - cols.min() + 1
    assert 0.6 * size < height < 0.85 * size
    assert 0.85 < width / height < 1.15  # T-pose: arm span ≈ body height
    assert (mask & mask[:, ::-1]).sum() / (mask | mask[:, ::-1]).sum() > 0.95  # mirror symmetric
    centre_row = {p: np.nonzero(is_part(sem, p))[0].mean() for p in ("head", "chest", "pelvis", "left_calf")}
    assert centre_row["head"] < centre_row["chest"] < centre_row["pelvis"] < centre_row["left_calf"]
    # the dancer faces the camera, so their left arm is on the image's right
    assert np.nonzero(is_part(sem, "left_forearm"))[1].mean() > 0.7 * size
    assert np.nonzero(is_part(sem, "right_forearm"))[1].mean() < 0.3 * size
    assert all(is_part(sem, p).any() for p in ("neck", "abdomen", "left_hand", "right_foot"))


def _capsule_sdf(p, a, b, r):
    ba = b - a
    s = np.clip(((p - a) @ ba) / (ba @ ba), 0, 1)
    return np.linalg.norm(p - a - s[..., None] * ba, axis=-1) - r


def _ellipsoid_f(p, c, axes, radii):
    """Implicit value divided by its gradient's length: ~ signed distance (m) near the surface."""
    q = (p - c) @ axes.T / radii
    grad = 2 * (q / radii) @ axes
    return ((q * q).sum(-1) - 1.0) / np.linalg.norm(grad, axis=-1)


@pytest.mark.parametrize("kind", ["capsule", "ellipsoid"])
def test_ray_hits_match_a_numeric_oracle(kind):
    """First hits against dense sampling of the implicit surface along each ray (tolerance 1e-4 m)."""
    rng = np.random.default_rng(7)
    for _ in range(4):
        centre = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(3.5, 5.0)])
        if kind == "capsule":
            a = centre + rng.normal(0, 0.2, 3)
            b = centre + rng.normal(0, 0.2, 3)
            r = rng.uniform(0.03, 0.12)
            prim = Primitive("capsule", 0, a[None], b[None], None, np.asarray(r), 0)
            f = lambda p: _capsule_sdf(p, a, b, r)  # noqa: E731
        else:
            axes, _ = np.linalg.qr(rng.normal(size=(3, 3)))
            radii = rng.uniform(0.05, 0.2, 3)
            prim = Primitive("ellipsoid", 0, centre[None], None, axes[None], radii, 0)
            f = lambda p: _ellipsoid_f(p, centre, axes, radii)  # noqa: E731
        # half the rays aimed at points inside the primitive (hits), the rest scattered around it
        n = 60
        u = rng.uniform(size=(n // 2, 1))
        jitter = rng.uniform(-0.4, 0.4, size=(n // 2, 3))
        inside = a + u * (b - a) + jitter * r if kind == "capsule" else centre + (jitter * radii) @ axes
        aim = np.concatenate([inside, centre + rng.normal(0, 0.3, (n - n // 2, 3))])
        X, Y = aim[:, 0] / aim[:, 2], aim[:, 1] / aim[:, 2]
        t = intersect(prim, X[None, None].astype(np.float32), Y[None, None].astype(np.float32))[0, 0]
        samples = np.arange(2.5, 6.5, 5e-4)
        dirs = np.stack([X, Y, np.ones(n)], axis=-1)
        values = f(samples[None, :, None] * dirs[:, None, :])  # (n, samples)
        for i in range(n):
            if np.isinf(t[i]):
                assert values[i].min() > -1e-6, "a ray that enters the primitive was reported as a miss"
            else:
                assert abs(f(float(t[i]) * dirs[i])) < 1e-4
                before = samples < t[i] - 1e-3
                assert values[i, before].min() > -1e-6, "an earlier surface crossing was missed"
        assert np.all(np.isfinite(t[: n // 2]))


def test_arm_in_front_occludes_the_chest_in_depth_and_semantic():
    size = 128
    camera = Camera.default(size)
    rest = t_pose()
    # left arm pointing at the camera, forearm folded across the chest
    pose = bend(rest, J["left_shoulder"], [0, 1, 0], -90)
    pose = bend(pose, J["left_elbow"], [0, 1, 0], -90)
    out_arm = render_sequence(pose[None], plain_identity(), camera, maps=("semantic", "depth"))
    out_rest = render_sequence(rest[None], plain_identity(), camera, maps=("semantic", "depth"))
    mid = 0.5 * (pose[J["left_elbow"]] + pose[J["left_wrist"]])
    (x, y), z = camera.project(mid)
    px, py = int(round(x)), int(round(y))
    assert is_part(out_rest["semantic"][0], "chest")[py, px]
    assert is_part(out_arm["semantic"][0], "left_forearm")[py, px]
    d_arm = float(out_arm["depth"][0, py, px])
    d_chest = float(out_rest["depth"][0, py, px])
    assert d_chest - d_arm > 0.2  # the forearm is ~0.3 m in front of the chest surface
    assert d_arm == pytest.approx(z - 0.040, abs=0.01)  # capsule radius 0.04 m at rest size (float16 depth)


def test_keypoints_follow_the_pinhole_model_and_the_skeleton_drawing():
    size = 256
    camera = Camera.default(size)
    joints = demo_motion(6)
    out = render_sequence(joints, plain_identity(), camera, maps=("skeleton",))
    kp = out["keypoints2d"]
    # oracle: OpenCV's projection of the SMPL joints behind COCO keypoints 5-16
    rot = camera.rotation()
    rvec, _ = cv2.Rodrigues(rot)
    tvec = -rot @ camera.position
    K = np.array([[camera.focal, 0, camera.center[0]], [0, camera.focal, camera.center[1]], [0, 0, 1]])
    body = list(COCO17_FROM_SMPL[5:])
    for f in range(len(joints)):
        ref, _ = cv2.projectPoints(joints[f, body], rvec, tvec, K, None)
        np.testing.assert_allclose(kp[f, 5:, :2], ref[:, 0], atol=1e-6)
    # each visible joint's dot is drawn in its OpenPose colour where the keypoint is
    _, radius = stroke_sizes(size)
    checked = 0
    for f in range(len(joints)):
        for op, coco in enumerate(OPENPOSE18_FROM_COCO17):
            if coco < 0 or kp[f, coco, 2] == 0:
                continue
            later = [OPENPOSE18_FROM_COCO17[o] for o in range(op + 1, 18) if OPENPOSE18_FROM_COCO17[o] >= 0]
            if any(np.hypot(*(kp[f, o, :2] - kp[f, coco, :2])) <= 2 * radius + 1 for o in later):
                continue  # a later dot may cover this one
            x, y = np.rint(kp[f, coco, :2]).astype(int)
            np.testing.assert_array_equal(out["skeleton"][f, y, x], OPENPOSE_COLORS[op])
            checked += 1
    assert checked >= 8 * len(joints)
    # face points: the dancer faces the camera, so their left eye is on the image's right, nose in front
    front = kp[0]
    assert front[1, 0] > front[0, 0] > front[2, 0]


def test_visibility_marks_self_occlusion_and_off_screen():
    camera = Camera.default(128)
    arms_down = bend(bend(t_pose(), J["left_shoulder"], [0, 0, 1], -75), J["right_shoulder"], [0, 0, 1], 75)
    side = bend(arms_down, J["pelvis"], [0, 1, 0], 90)  # facing +x: the dancer's left side is away from us
    far = t_pose() + np.array([6.0, 0.0, 0.0])
    kp = render_sequence(np.stack([side, far]), plain_identity(), camera, maps=())["keypoints2d"]
    vis = kp[0, :, 2]
    assert vis[4] == 1.0 and vis[3] == 0.5  # right ear seen, left ear behind the head
    assert vis[6] == 1.0 and vis[5] == 0.5  # right shoulder seen, left one behind the chest
    assert vis[14] == 1.0 and vis[13] == 0.5  # same for the knees
    assert np.all(kp[1, :, 2] == 0.0)  # walked out of the picture


def test_heatmaps_peak_at_the_keypoints():
    out = render_sequence(demo_motion(4), plain_identity(), Camera.default(128), maps=("heatmap",))
    hm = out["heatmap"].astype(np.float32)
    kp = out["keypoints2d"]
    for f in range(4):
        for k in range(17):
            if kp[f, k, 2] == 0:
                assert not hm[f, k].any()
                continue
            peak = np.unravel_index(np.argmax(hm[f, k]), hm[f, k].shape)
            expected = (kp[f, k, 1] - 1.5) / 4, (kp[f, k, 0] - 1.5) / 4  # stride 4, pixel-centre aligned
            assert abs(peak[0] - expected[0]) <= 0.5 + 1e-6 and abs(peak[1] - expected[1]) <= 0.5 + 1e-6
            assert hm[f, k].max() > 0.75  # a sub-pixel offset lowers the sampled peak a little


def test_normals_are_unit_and_face_the_camera():
    size = 128
    camera = Camera.default(size)
    out = render_sequence(demo_motion(3), plain_identity(), camera, maps=("normal", "depth"))
    body = out["depth"] > 0
    n = out["normal"][body].astype(np.float64) / 127.5 - 1.0  # x right, y up, z towards the camera
    assert np.all(np.abs(np.linalg.norm(n, axis=-1) - 1.0) < 0.02)
    frames, rows, cols = np.nonzero(body)
    rays = np.stack([(cols - camera.center[0]) / camera.focal, -(rows - camera.center[1]) / camera.focal,
                     -np.ones_like(cols, float)], axis=-1)  # viewing rays in the same axes
    cos = (n * rays).sum(-1) / np.linalg.norm(rays, axis=-1)
    assert np.all(cos < 0.03)  # every visible surface faces the viewer (8-bit rounding slack)
    assert not out["normal"][~body].any()


def test_bounding_box_culling_is_conservative(monkeypatch):
    joints = demo_motion(4)
    culled = render_sequence(joints, ident(3), Camera.default(96))
    real = body_mod.screen_bounds

    def whole_frame(prim, focal, center, near):
        bounds, ok = real(prim, focal, center, near)
        bounds[:] = [-10.0, 200.0, -10.0, 200.0]
        return bounds, ok

    monkeypatch.setattr("evalkit.data.synth.render.screen_bounds", whole_frame)
    full = render_sequence(joints, ident(3), Camera.default(96))
    for name in MAP_NAMES:
        np.testing.assert_array_equal(culled[name], full[name], err_msg=name)


def test_deterministic_and_independent_of_chunking_and_threads():
    joints = demo_motion(5)
    a = render_sequence(joints, ident(4), Camera.default(64), chunk=16)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    scene._backdrop_cached.cache_clear()  # recompute the backdrop under the other settings too
    try:
        b = render_sequence(joints, ident(4), Camera.default(64), chunk=2)
    finally:
        cv2.setNumThreads(threads)
    for name in (*MAP_NAMES, "keypoints2d"):
        assert a[name].tobytes() == b[name].tobytes(), name


def test_bad_inputs_raise_clear_errors():
    cam = Camera.default(64)
    with pytest.raises(EvalkitError, match=r"\(T, 24, 3\)"):
        render_sequence(np.zeros((4, 23, 3)), ident(), cam)
    bad = np.repeat(t_pose()[None], 3, axis=0)
    bad[1, 5, 0] = np.nan
    with pytest.raises(EvalkitError, match="non-finite values in 1 frame"):
        render_sequence(bad, ident(), cam)
    with pytest.raises(EvalkitError, match="unknown map"):
        render_sequence(t_pose()[None], ident(), cam, maps=("rgb", "albedo"))
    wrong = plain_identity()
    wrong.limb_scale = np.ones(3)
    with pytest.raises(EvalkitError, match="limb_scale"):
        render_sequence(t_pose()[None], wrong, cam)
    wrong = plain_identity()
    wrong.top = (10, 20)
    with pytest.raises(EvalkitError, match="Identity.top"):
        render_sequence(t_pose()[None], wrong, cam)
    with pytest.raises(EvalkitError, match="24 positive"):
        t_pose(np.ones(10))


def test_speed_print():
    """Prints frames/s at 256² for RGB + all maps (run with -s); not a timed assertion."""
    joints = demo_motion(45)
    identity, camera = ident(5), Camera.default(256)
    render_sequence(joints[:2], identity, camera)  # warm the backdrop cache
    start = time.perf_counter()
    out = render_sequence(joints, identity, camera)
    fps = len(joints) / (time.perf_counter() - start)
    print(f"\nrenderer: {fps:.0f} frames/s (RGB + all maps, 256², {len(joints)} frames)")
    assert np.all((out["depth"] > 0).reshape(len(joints), -1).any(axis=1))  # a dancer in every frame
