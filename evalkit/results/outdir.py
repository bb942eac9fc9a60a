"""The ``--out`` directory of a run: checked and locked before any scoring, written atomically after.

A run that scores for an hour and then finds ``--out`` unusable loses its work, so the directory is made,
tested for writing and locked first. The lock (``.evalkit.lock``, holding the owner's pid) stops a second run
from writing into the same directory while the first one scores; a lock left by a killed run (its pid is gone)
is taken over. Results are written to a temporary file and renamed into place, so an interrupted run leaves
the previous results whole or none, never half a file. Policy: docs/bad-inputs.md.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from evalkit.errors import EvalkitError

LOCK_FILE = ".evalkit.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _make_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EvalkitError("--out exists and is a file, not a directory", path=out,
                           hint="pass a directory path (it is created when missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EvalkitError(f"--out cannot be created ({err.strerror})", path=out,
                           hint="pass a directory under a writable folder") from None


def _take_lock(out: Path) -> Path:
    lock = out / LOCK_FILE
    for _ in range(2):  # the second try follows the removal of a stale lock
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _pid_alive(owner):
                raise EvalkitError(f"--out is in use by another evalkit run (pid {owner})", path=out,
                                   hint="wait for it to finish or pass another --out") from None
            lock.unlink(missing_ok=True)  # left by a run that was killed
            continue
        except OSError as err:
            raise EvalkitError(f"--out is not writable ({err.strerror})", path=out,
                               hint="fix its permissions or pass another --out") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        return lock
    raise EvalkitError("--out lock could not be taken", path=out, hint="remove its .evalkit.lock and retry")


_HELD: set[Path] = set()  # directories this process has claimed (a run-model claims, then its scoring does)


@contextlib.contextmanager
def claimed(out: str | Path | None):
    """Make, check and lock ``out`` for the duration of a run (nothing when ``out`` is None). Re-entrant: an
    inner claim of a directory this process already holds (``run-model`` around its ``score``) keeps the lock
    and leaves its release to the outer one, so no other run slips in between generation and scoring."""
    if out is None:
        yield None
        return
    out = Path(out)
    if out.resolve() in _HELD:
        yield out
        return
    _make_dir(out)
    lock = _take_lock(out)
    key = out.resolve()
    _HELD.add(key)
    try:
        yield out
    finally:
        _HELD.discard(key)
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path: str | Path):
    """A binary handle on a temporary file in ``path``'s directory, renamed onto ``path`` when the block ends
    without error (removed otherwise): readers see the old file or the whole new one, never half of it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    with atomic_file(path) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return Path(path)
