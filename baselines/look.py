"""How the pose-driven baselines draw a dancer for one sample ("the look").

* SDGPip samples (a root written by ``evalkit data synth`` or the embedded default split): the dataset's own
  renderer with the sample's dancer — body proportions (rest skeleton), colours and build are regenerated
  from the manifest's seed and the dancer number, exactly as the generator drew them. So ground-truth joints
  render back to the ground-truth video pixel for pixel.
* Real footage (wild, AIST++): no 3D look exists, so the reference image is cut into a 2D puppet
  (:mod:`puppet`) at the reference pose — the annotation's first frame when the reference is the video's
  first frame, else the pose backend run on the reference image. 3D motions are projected with the SDGPip
  camera and placed on the reference person (scale from the torso length, position from the mid-hip).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.generators import frame_size

L_SH, R_SH, L_HIP, R_HIP = 5, 6, 11, 12


@lru_cache(maxsize=8)
def _manifest(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise EvalkitError(f"unreadable SDGPip manifest ({type(err).__name__})", path=path) from None


def sdgpip_clip(sample) -> tuple[dict, dict] | None:
    """(manifest settings, manifest clip entry) when ``sample`` comes from an SDGPip root, else None."""
    manifest_path = Path(sample.video).parent.parent / "sdgpip.json"
    if not manifest_path.is_file():
        return None
    manifest = _manifest(str(manifest_path))
    clip = next((c for c in manifest.get("clips", []) if c.get("video") == sample.id), None)
    if clip is None:
        raise EvalkitError(f"sample {sample.id} is not in the SDGPip manifest", path=manifest_path,
                           hint="regenerate the dataset")
    return manifest["settings"], clip


class SynthLook:
    """The SDGPip dancer of a synthetic sample."""

    kind = "sdgpip"

    def __init__(self, settings: dict, clip: dict):
        from evalkit.data.synth.motion import Dancer
        from evalkit.data.synth.pipeline import DANCER_STREAM
        from evalkit.data.synth.render import Camera, Identity

        # the generator draws dancer k's proportions, then its look, from the stream (seed, DANCER_STREAM, k)
        rng = np.random.default_rng(np.random.SeedSequence([int(settings["seed"]), DANCER_STREAM, int(clip["dancer"]) - 1]))
        self.dancer = Dancer.random(rng)
        self.identity = Identity.random(rng)
        self.camera = Camera.default(int(settings["size"]))
        self.rest = self.dancer.rest
        self.counts: dict = {}

    def render_joints(self, joints3d: np.ndarray) -> np.ndarray:
        from evalkit.data.synth.render import render_sequence

        return render_sequence(joints3d, self.identity, self.camera, maps=("rgb",))["rgb"]


class PuppetLook:
    """The reference image as a 2D puppet (real footage)."""

    kind = "puppet"

    def __init__(self, image: np.ndarray, keypoints: np.ndarray, conf: np.ndarray | None, source: str):
        from evalkit.baselines.puppet import Puppet

        from evalkit.data.synth.skeleton import t_pose

        self.puppet = Puppet.from_reference(image, keypoints, conf)
        self.rest = t_pose()
        self.reference_pose = source
        self.counts = self.puppet.counts

    def place(self, joints3d: np.ndarray) -> np.ndarray:
        """(T, 24, 3) world joints → (T, 17, 2) pixels on the reference person."""
        from evalkit.data.synth.render import Camera, coco17_points

        kp, _ = Camera.default(512).project(coco17_points(joints3d))
        ref = self.puppet.keypoints
        mid_hip = (kp[:, L_HIP] + kp[:, R_HIP]) / 2
        torso = np.linalg.norm((kp[:, L_SH] + kp[:, R_SH]) / 2 - mid_hip, axis=-1)
        scale = self.puppet.scale / float(np.median(torso))
        return (kp - mid_hip.mean(axis=0)) * scale + (ref[L_HIP] + ref[R_HIP]) / 2

    def render_joints(self, joints3d: np.ndarray) -> np.ndarray:
        return self.puppet.render(self.place(joints3d))

    def render_keypoints(self, keypoints: np.ndarray) -> np.ndarray:
        return self.puppet.render(keypoints)


def load_reference(sample) -> tuple[np.ndarray, bool]:
    """The reference image as uint8 RGB at the ground truth's frame size; True when it had to be resized."""
    import cv2
    from PIL import Image

    try:
        with Image.open(sample.reference) as im:
            image = np.asarray(im.convert("RGB"))
    except OSError as err:
        raise EvalkitError(f"cannot read the reference image ({type(err).__name__})", path=sample.reference) from None
    h, w = frame_size(sample)
    if image.shape[:2] == (h, w):
        return image, False
    interp = cv2.INTER_AREA if image.shape[0] > h else cv2.INTER_CUBIC
    return cv2.resize(image, (w, h), interpolation=interp), True


def reference_pose(sample, image: np.ndarray, backend: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(keypoints (17, 2), confidences (17,), where they came from) of the person in the reference image."""
    if sample.joints2d is not None and sample.meta.get("reference_from") == "first frame":
        kp = np.asarray(sample.joints2d[0], dtype=np.float64)
        return kp[:, :2], kp[:, 2], "annotation (first frame)"
    from evalkit.io.video import Video
    from evalkit.pose import extract

    track = extract(Video(image[None], 1.0, Path(sample.reference)), backend=backend)
    if not track.present[0]:
        raise EvalkitError(f"the {backend} pose backend finds no person in the reference image",
                           path=sample.reference, hint="give a reference image showing the dancer's whole body")
    return track.joints[0], track.conf[0], f"{backend} on the reference image"


def look_for(sample, pose_backend: str = "blazepose"):
    """The look of ``sample``: SynthLook for SDGPip samples, else a PuppetLook of its reference image."""
    found = sdgpip_clip(sample)
    if found is not None:
        return SynthLook(*found)
    image, resized = load_reference(sample)
    kp, conf, source = reference_pose(sample, image, pose_backend)
    look = PuppetLook(image, kp, conf, source)
    look.counts["reference_resized"] = int(resized)
    return look


def merge_counts(total: dict, counts: dict) -> None:
    """Add one sample's counts into a generator's running totals."""
    for key, value in counts.items():
        total[key] = total.get(key, 0) + int(value)


class MotionOnLook:
    """Base of generators that make joints (``motion(sample, music, rest)``) for the sample's own body and
    render them with its look; the look's counts join the generator's (``pose_backend`` and ``counts`` set by
    the subclass)."""

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray:
        look = look_for(sample, self.pose_backend)
        frames = look.render_joints(self.motion(sample, music, look.rest))
        merge_counts(self.counts, look.counts)
        return frames
