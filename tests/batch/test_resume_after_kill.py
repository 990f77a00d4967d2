"""A batch killed with SIGKILL mid-run resumes: finished items are kept and skipped, nothing is torn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from PIL import Image

from editlab.batch import MANIFEST, read_manifest, run_batch

CHILD = textwrap.dedent(
    """
    import sys, time
    from PIL import ImageOps
    from editlab.batch import run_batch
    from editlab.editors import Editor

    class Slow(Editor):
        name = "test-recording"  # same describe() as the editor that resumes: its outputs count
        def edit_batch(self, requests):
            time.sleep(0.03 * len(requests))
            return [ImageOps.invert(r.image) for r in requests]

    run_batch(sys.argv[1], sys.argv[2], Slow(), batch_size=2, progress=False)
    print("finished", flush=True)
    """
)


def test_resume_after_kill_9(tmp_path, fakes, image_maker):
    jobs = []
    for k in range(40):
        size = (16, 16) if k % 3 else (24, 12)  # two sizes interleaved
        path = image_maker(tmp_path / f"img{k:02d}.png", size, k)
        jobs.append(json.dumps({"image": path.name, "instruction": f"edit {k}", "id": f"item{k:02d}"}))
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text("\n".join(jobs) + "\n")
    out = tmp_path / "out"
    script = tmp_path / "child.py"
    script.write_text(CHILD)

    child = subprocess.Popen([sys.executable, str(script), str(jobs_file), str(out)],
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not out.exists() or len(read_manifest(out)) < 8:  # wait until some items are done
        assert time.monotonic() < deadline and child.poll() is None, "child finished or hung before the kill"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    done = read_manifest(out)
    assert 8 <= len(done) < 40
    for record in done.values():  # every recorded item has its complete output
        assert record["status"] == "ok"
        with Image.open(out / record["output"]) as image:
            image.load()

    editor = fakes.RecordingEditor()
    run_batch(jobs_file, out, editor, batch_size=2, progress=False)
    redone = {r.instruction for r in editor.requests}
    assert len(editor.requests) == 40 - len(done)  # skipped exactly the finished ones
    assert not redone & {record["instruction"] for record in done.values()}
    final = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert [r["id"] for r in final] == [f"item{k:02d}" for k in range(40)]
    assert all(r["status"] == "ok" for r in final)
    for k in (0, 1, 39):
        source = Image.open(tmp_path / f"img{k:02d}.png")
        assert Image.open(out / f"item{k:02d}.png").size == source.size
