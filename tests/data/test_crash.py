"""kill -9 at random moments, rerun: the same dataset, byte for byte, nothing lost or duplicated."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from editlab.data import build_dataset
from editlab.data.schema import parquet_to_samples

JOB = dict(n=200, shard_size=8)


def _script(out: Path, processes: int) -> str:
    return (f"from editlab.data import build_dataset\nif __name__ == '__main__':\n"
            f"    build_dataset('toyworld', out={str(out)!r}, processes={processes}, progress=False, "
            f"n={JOB['n']}, shard_size={JOB['shard_size']})\n")


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".parquet", ".tar")
            and not p.name.endswith(".summary.json")}


def test_sigkill_at_random_moments_then_rerun_gives_the_same_dataset(tmp_path):
    reference = build_dataset("toyworld", out=str(tmp_path / "ref"), progress=False, **JOB)
    out = tmp_path / "crashed"
    script = tmp_path / "job.py"
    script.write_text(_script(out, processes=2))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(1234)
    kills, delay = 0, 4.0
    for _ in range(8):
        process = subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * delay)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the job and its spawned workers, mid-write
            kills += 1
        else:  # finished before the kill: start over, kill sooner
            shutil.rmtree(out)
            delay /= 2
        process.wait()
        if kills == 3:
            break
    assert kills == 3, "the job kept finishing before the kill"
    resumed = build_dataset("toyworld", out=str(out), progress=False, **JOB)
    assert resumed.rows == reference.rows
    assert _files(out) == _files(tmp_path / "ref")
    ids = [s.id for path in resumed.data_files for s in parquet_to_samples(Path(path).read_bytes())]
    assert len(ids) == len(set(ids)) == reference.rows
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # no half-written files left behind
