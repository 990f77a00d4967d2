"""kill -9 in the middle of a run, rerun: the same results, and no finished editor or judge call repeated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from bench_helpers import make_magicbrush

SCRIPT = textwrap.dedent('''
    import sys, time
    from PIL import ImageOps
    from editlab.bench.harness import run_benchmark
    from editlab.judges import DummyBackend
    from editlab.editors.base import Editor

    data, out, log_dir, slow = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

    class SlowEditor(Editor):
        name = "slow-invert"
        def edit_batch(self, requests):
            if slow == "edit":
                time.sleep(0.4)
            with open(f"{log_dir}/edits.log", "a") as log:
                log.writelines(r.context["sample_id"] + "\\n" for r in requests)
            return [ImageOps.invert(r.image) for r in requests]

    class SlowJudgeBackend(DummyBackend):
        def chat(self, prompt, images):
            if slow == "judge":
                time.sleep(0.4)
            answer = super().chat(prompt, images)
            with open(f"{log_dir}/judge.log", "a") as log:
                log.write(prompt.split('"')[1] + "\\n")
            return answer

    run_benchmark(SlowEditor(), "magicbrush", data=data, out=out, metrics=["l1"], judges=["imgedit"],
                  judge_backend=SlowJudgeBackend(), options={"setting": "all-turn"}, batch_size=1,
                  progress=False, print_table=False)
''')


def _run(script, data, out, logs, slow, wait_for=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), data, str(out), str(logs), slow], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if wait_for is None:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        return
    log = logs / wait_for
    deadline = time.time() + 60
    while time.time() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    time.sleep(0.2)  # now inside the next (slow) call, between two finished ones
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("phase", ["edit", "judge"])
def test_sigkill_then_rerun_repeats_nothing_finished(tmp_path, phase):
    data = str(make_magicbrush(tmp_path / "data", sessions=3, turns=2))
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    logs = tmp_path / "logs"
    logs.mkdir()
    _run(script, data, tmp_path / "run", logs, phase, wait_for=f"{phase}s.log" if phase == "edit" else "judge.log")
    killed_edits = (logs / "edits.log").read_text().splitlines()
    assert 2 <= len(killed_edits) < 6 or phase == "judge"
    assert not (tmp_path / "run" / "results.json").exists()
    _run(script, data, tmp_path / "run", logs, phase)

    edits = (logs / "edits.log").read_text().splitlines()
    judged = (logs / "judge.log").read_text().splitlines()
    assert sorted(edits) == sorted(set(edits)) and len(edits) == 6  # every sample edited exactly once
    assert sorted(judged) == sorted(set(judged)) and len(judged) == 6  # every sample judged exactly once

    clean_logs = tmp_path / "clean-logs"
    clean_logs.mkdir()
    _run(script, data, tmp_path / "clean", clean_logs, "none")
    resumed = json.loads((tmp_path / "run" / "results.json").read_text())
    clean = json.loads((tmp_path / "clean" / "results.json").read_text())
    assert resumed["overall"] == clean["overall"] and resumed["tasks"] == clean["tasks"]
    resumed_samples = (tmp_path / "run" / "samples.jsonl").read_text()
    clean_samples = (tmp_path / "clean" / "samples.jsonl").read_text().replace(str(tmp_path / "clean"), str(tmp_path / "run"))
    assert resumed_samples == clean_samples
    assert not [p for p in Path(tmp_path / "run").rglob(".*tmp*")]
