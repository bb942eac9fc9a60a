"""BlazePose PoseLandmarker bundles assembled from the ``mediapipe==0.10.21`` wheel on PyPI.

The official ``pose_landmarker_*.task`` bundles are served only from Google's model storage; the legacy
``mp.solutions.pose`` files inside the mediapipe wheel are the same networks. A bundle is a stored
(uncompressed) zip of the pose detector and the landmark model; the Tasks API also needs the landmark
model's input normalisation (mean 0, std 255: pixels / 255) in its TFLite metadata, which the legacy file
lacks, so it is added here. The wheel ships only the ``full`` landmark model (``lite`` and ``heavy`` were
downloaded at run time by the legacy API), so only ``full`` is assembled.

Everything is pinned: the wheel, each member read from it, and the assembled bundle, which is
byte-identical to the one the project assembled first (../shared/weights/pose), so results carry one
model sha256 whichever place the bundle came from.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.paths import cache_dir
from evalkit.weights.registry import Wheel, fetch_archive, read_pinned_member, sha256_file, write_atomically

MEDIAPIPE = Wheel("mediapipe", "0.10.21", "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
                  "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3")
DETECTOR = ("mediapipe/modules/pose_detection/pose_detection.tflite",
            "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c")
LANDMARKS = {"full": ("mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                      "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f")}
# the landmark model with its metadata, and the bundle (both equal to ../shared/weights/pose's)
LANDMARKS_WITH_METADATA = {"full": "f4de0a4ac8bd42155662f3d580d76457b1ecaff48de6248c8dabab7994c5bf9a"}
BUNDLES = {"full": "fda7292a7f90f86304f48946c5276fd11cad5c2a3fe412f06e0c293ec48864fc"}
# member names the Tasks API looks for inside a pose_landmarker bundle
BUNDLE_MEMBERS = ("pose_detector.tflite", "pose_landmarks_detector.tflite")
# the zip entries' time stamp of the first assembly: a fixed stamp keeps the bundle's sha256 reproducible
STAMP = (2026, 11, 21, 3, 43, 52)
# MediaPipe's own bundle writer aligns stored members to 4 bytes so they can be memory-mapped
ALIGNMENT = 4


def _feature(name: str):
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    tensor = meta_fb.TensorMetadataT()
    tensor.name = name
    tensor.content = meta_fb.ContentT()
    tensor.content.contentPropertiesType = meta_fb.ContentProperties.FeatureProperties
    tensor.content.contentProperties = meta_fb.FeaturePropertiesT()
    tensor.stats = meta_fb.StatsT()
    return tensor


def landmark_metadata() -> bytes:
    """TFLite model metadata of the landmark model: an RGB image input normalised as (x - 0) / 255, and the
    five outputs in the model's order (what the Tasks API reads to preprocess the crop)."""
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    image = meta_fb.TensorMetadataT()
    image.name = "image"
    image.description = "Input image to be processed."
    image.content = meta_fb.ContentT()
    image.content.contentPropertiesType = meta_fb.ContentProperties.ImageProperties
    image.content.contentProperties = meta_fb.ImagePropertiesT()
    image.content.contentProperties.colorSpace = meta_fb.ColorSpaceType.RGB
    normalisation = meta_fb.NormalizationOptionsT()
    normalisation.mean, normalisation.std = [0.0], [255.0]
    unit = meta_fb.ProcessUnitT()
    unit.optionsType = meta_fb.ProcessUnitOptions.NormalizationOptions
    unit.options = normalisation
    image.processUnits = [unit]
    image.stats = meta_fb.StatsT()
    image.stats.max, image.stats.min = [1.0], [0.0]
    subgraph = meta_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [_feature(name) for name in
                                     ("landmarks", "pose_flag", "segmentation", "heatmap", "world_landmarks")]
    model = meta_fb.ModelMetadataT()
    model.name = "BlazePose GHUM 3D landmark"
    model.description = "legacy mediapipe pose_landmark model + metadata"
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = "1.0.1"
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"M001")
    return bytes(builder.Output())


def with_metadata(model_bytes: bytes, metadata: bytes) -> bytes:
    """The TFLite model with ``metadata`` added as the TFLITE_METADATA buffer, written as TFLite's metadata
    populator writes it: the model re-serialised, then an (empty) zip of associated files appended."""
    import flatbuffers
    from mediapipe.tasks.metadata import schema_py_generated as tflite_fb

    model = tflite_fb.ModelT.InitFromObj(tflite_fb.Model.GetRootAsModel(model_bytes, 0))
    if any(entry.name == b"TFLITE_METADATA" for entry in model.metadata or []):
        raise EvalkitError("the landmark model already carries TFLite metadata")
    buffer = tflite_fb.BufferT()
    buffer.data = metadata
    model.buffers.append(buffer)
    entry = tflite_fb.MetadataT()
    entry.name, entry.buffer = "TFLITE_METADATA", len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = io.BytesIO(bytes(builder.Output()))
    with zipfile.ZipFile(out, "a"):  # no associated files: only the end-of-archive record is written
        pass
    return out.getvalue()


def _pinned(data: bytes, sha256: str, what: str, path: Path) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise EvalkitError(f"assembled {what} has sha256 {digest[:16]}…, expected {sha256[:16]}…", path=path,
                           hint="the flatbuffers/mediapipe writers changed: pin the versions in uv.lock")
    return data


def write_bundle(members: dict[str, bytes], dest: Path) -> None:
    """A .task bundle: the members stored uncompressed, 4-byte aligned, with a fixed time stamp."""
    from mediapipe.tasks.python.metadata.metadata_writers.model_asset_bundle_utils import AlignZipFile

    with AlignZipFile(dest, mode="w", alignment=ALIGNMENT) as bundle:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=STAMP)
            info.external_attr = 0o600 << 16  # what ZipFile.writestr gives a name written without ZipInfo
            bundle.writestr(info, data)


def bundle_path(variant: str = "full") -> Path:
    return cache_dir("weights") / f"pose_landmarker_{variant}-mediapipe-{MEDIAPIPE.version}.task"


# cached bundles already checked against their pin in this process: (path, size, mtime) -> True; every video's
# landmarker looks the bundle up, and hashing 9 MB each time is waste
_VERIFIED: set[tuple[str, int, int]] = set()


def bundle(variant: str = "full", archive: str | Path | None = None) -> Path:
    """The pinned ``pose_landmarker_{variant}.task`` assembled from the mediapipe wheel, cached under
    ``$EVALKIT_CACHE/weights`` (fetches the wheel on first use; offline, the error says what to run)."""
    if variant not in BUNDLES:
        raise EvalkitError(f"no registry source for the BlazePose '{variant}' bundle (the mediapipe wheel ships "
                           f"only {', '.join(BUNDLES)})", hint="pass model=PATH or set EVALKIT_POSE_MODEL")
    out = bundle_path(variant)
    if out.is_file():
        stat = out.stat()
        seen = (str(out), stat.st_size, stat.st_mtime_ns)
        if seen in _VERIFIED:
            return out
        digest = sha256_file(out)
        if digest == BUNDLES[variant]:
            _VERIFIED.add(seen)
            return out
        raise EvalkitError(f"cached bundle has sha256 {digest[:16]}…, expected {BUNDLES[variant][:16]}…",
                           path=out, hint="delete the file to assemble it again")
    wheel = fetch_archive(MEDIAPIPE, archive)
    detector = read_pinned_member(wheel, *DETECTOR)
    landmarks = with_metadata(read_pinned_member(wheel, *LANDMARKS[variant]), landmark_metadata())
    _pinned(landmarks, LANDMARKS_WITH_METADATA[variant], "landmark model", wheel)
    members = dict(zip(BUNDLE_MEMBERS, (detector, landmarks)))

    def write(tmp: Path) -> None:
        write_bundle(members, tmp)
        _pinned(tmp.read_bytes(), BUNDLES[variant], "bundle", out)

    write_atomically(out, write)
    return out
