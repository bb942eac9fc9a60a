"""BlazePose bundles assembled from the pinned mediapipe wheel: pins, the lookup order, the metadata the Tasks
API needs, tampering refused, and the same landmarks as the ../shared bundle on a real clip.

Tests that need the wheel fetch it once (35 MB from PyPI, cached under $EVALKIT_CACHE/archives) and skip
cleanly when PyPI cannot be reached; CI reaches it.
"""
import hashlib

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.weights import registry

pytest.importorskip("mediapipe")
from evalkit.pose.blazepose import BlazePose, find_model  # noqa: E402
from evalkit.weights import blazepose as wb  # noqa: E402


@pytest.fixture(scope="session")
def wheel_dir():
    """The folder holding the verified mediapipe wheel (network on first use; skips offline)."""
    try:
        return registry.fetch_archive(wb.MEDIAPIPE).parent
    except EvalkitError as err:
        if "cannot download" in str(err):
            pytest.skip(f"PyPI unreachable: {err}")
        raise


@pytest.fixture()
def fresh(tmp_path, monkeypatch):
    """A fresh machine: empty cache, no ../shared, no bundle named by the environment."""
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EVALKIT_SHARED", "none")
    monkeypatch.delenv("EVALKIT_POSE_MODEL", raising=False)
    monkeypatch.delenv("EVALKIT_WEIGHTS_DIR", raising=False)
    return tmp_path


def test_metadata_normalises_pixels_by_255():
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    raw = wb.landmark_metadata()
    assert raw[4:8] == b"M001"
    model = meta_fb.ModelMetadataT.InitFromObj(meta_fb.ModelMetadata.GetRootAsModelMetadata(raw, 0))
    (image,) = model.subgraphMetadata[0].inputTensorMetadata
    norm = image.processUnits[0].options
    assert list(norm.mean) == [0.0] and list(norm.std) == [255.0]
    assert image.content.contentProperties.colorSpace == meta_fb.ColorSpaceType.RGB
    assert [t.name for t in model.subgraphMetadata[0].outputTensorMetadata] == [
        b"landmarks", b"pose_flag", b"segmentation", b"heatmap", b"world_landmarks"]


def test_tampered_archive_and_cached_bundle_are_refused(fresh):
    fake = fresh / "in" / wb.MEDIAPIPE.filename
    fake.parent.mkdir()
    fake.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip under the wheel's name
    with pytest.raises(EvalkitError, match="does not match the pinned"):
        wb.bundle("full", archive=fake)
    cached = fresh / "cache" / "weights" / f"pose_landmarker_full-mediapipe-{wb.MEDIAPIPE.version}.task"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"not a bundle")
    with pytest.raises(EvalkitError, match="delete the file"):
        find_model()


def test_offline_error_names_the_command_and_the_folder(fresh, monkeypatch):
    monkeypatch.setattr(registry, "PYPI_SIMPLE", "http://127.0.0.1:9/simple")
    with pytest.raises(EvalkitError) as err:
        find_model()
    message = str(err.value)
    assert ("pip download --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --abi cp311 "
            "--python-version 3.11 mediapipe==0.10.21 -d DIR") in message
    assert "EVALKIT_WEIGHTS_DIR=DIR" in message and "\n" not in message
    with pytest.raises(EvalkitError, match="pose_landmarker_lite.task"):
        find_model(variant="lite")


def test_assembled_bundle_is_pinned_and_used_without_shared(fresh, wheel_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(wheel_dir))
    path = find_model()
    assert path.parent == fresh / "cache" / "weights"
    assert registry.sha256_file(path) == wb.BUNDLES["full"]
    assert find_model() == path  # cached: assembled once
    # the overrides, in order: the cache's own bundle folder, then EVALKIT_POSE_MODEL, then model=
    placed = fresh / "cache" / "pose" / "models" / "pose_landmarker_full.task"
    placed.write_bytes(path.read_bytes())
    assert find_model() == placed
    named = fresh / "named.task"
    named.write_bytes(b"x")
    monkeypatch.setenv("EVALKIT_POSE_MODEL", str(named))
    assert find_model() == named
    assert find_model(model=path) == path


def test_same_bundle_and_landmarks_as_shared(shared, fresh, wheel_dir, monkeypatch):
    """The assembled bundle is byte-identical to ../shared's, and (as it must then) PoseLandmarker gives the
    same landmarks with it on a real dance clip."""
    from evalkit.io.video import decode_video

    reference = shared / "weights" / "pose" / "pose_landmarker_full.task"
    if not reference.is_file():
        pytest.skip(f"{reference} not present")
    monkeypatch.setenv("EVALKIT_WEIGHTS_DIR", str(wheel_dir))
    assembled = wb.bundle("full")
    assert hashlib.sha256(assembled.read_bytes()).digest() == hashlib.sha256(reference.read_bytes()).digest()
    clip = decode_video(shared / "data" / "wild" / "animatex_dance_1.mp4")
    frames = clip.frames[:8]
    ours, conf, present = BlazePose(model=assembled)(frames, clip.fps)
    theirs, conf_ref, present_ref = BlazePose(model=reference)(frames, clip.fps)
    assert present.all() and (present == present_ref).all()
    np.testing.assert_allclose(ours, theirs, atol=1e-3)  # px; same bytes, same runtime: equal in practice
    np.testing.assert_allclose(conf, conf_ref, atol=1e-6)
