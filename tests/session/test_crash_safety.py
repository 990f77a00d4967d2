"""Crash safety: every window between writes, a torn log line, and real kill -9 at random moments."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

from editlab.errors import EditlabError
from editlab.io.journal import Journal
from editlab.session import EditSession


def test_journal_ignores_and_then_cuts_a_torn_tail(tmp_path):
    journal = Journal(tmp_path / "log.jsonl")
    journal.append({"id": "a"})
    with open(journal.path, "ab") as handle:
        handle.write(b'{"id": "b", "unfinis')  # killed mid-write: no newline
    assert Journal(journal.path).read() == [{"id": "a"}]
    journal.append({"id": "c"})
    assert journal.path.read_bytes() == b'{"id": "a"}\n{"id": "c"}\n'
    assert journal.read() == [{"id": "a"}, {"id": "c"}]


def test_journal_incremental_reads(tmp_path):
    reader, writer = Journal(tmp_path / "j.jsonl"), Journal(tmp_path / "j.jsonl")
    assert reader.read_new() == []
    writer.append({"n": 1})
    writer.append({"n": 2})
    assert reader.read_new() == [{"n": 1}, {"n": 2}]
    writer.append({"n": 3})
    assert reader.read_new() == [{"n": 3}] and reader.read_new() == []


def test_journal_damaged_middle_line(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"n": 1}\nnot json\n{"n": 3}\n')
    with pytest.raises(EditlabError, match="line 2 is not valid JSON"):
        Journal(path).read()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert Journal(path, strict=False).read() == [{"n": 1}, {"n": 3}]


def test_torn_log_line_in_a_session(tmp_path, photo):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    session.edit("kept")
    with open(tmp_path / "s" / "log.jsonl", "ab") as handle:
        handle.write(b'{"id": "v2", "index": 2, "parent": "v1", "instr')
    reopened = EditSession.open(tmp_path / "s")
    assert len(reopened) == 2 and reopened.head.id == "v1"
    assert reopened.edit("next").id == "v2"
    assert len(EditSession.open(tmp_path / "s")) == 3


def test_crash_after_the_image_before_the_log_line(tmp_path, photo, monkeypatch):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    monkeypatch.setattr(session._store.log, "append", _die)
    with pytest.raises(_Killed):
        session.edit("lost")
    reopened = EditSession.open(tmp_path / "s")
    assert len(reopened) == 1 and reopened.head.id == "v0" and reopened.verify() == []


def test_crash_after_the_log_line_before_the_state(tmp_path, photo, fakes, monkeypatch):
    session = EditSession.create(tmp_path / "s", photo, editor=fakes.InvertEditor())
    session.edit("a")
    session.undo()  # state: HEAD v0, redo [v1]
    monkeypatch.setattr(session._store, "write_state", _die)
    with pytest.raises(_Killed):
        session.edit("b")
    reopened = EditSession.open(tmp_path / "s")  # the finished turn is there and HEAD rolls forward to it
    assert reopened.head.id == "v2" and reopened.head.parent == "v0" and not reopened.can_redo


def test_crash_while_writing_the_state(tmp_path, photo, monkeypatch):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    session.edit("a")
    import editlab.io.atomic as atomic

    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "replace", _die)
    with pytest.raises(_Killed):
        session.undo()
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert EditSession.open(tmp_path / "s").head.id == "v1"  # the old state stands


def test_lost_state_file_is_rebuilt(tmp_path, photo):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    session.edit("a")
    (tmp_path / "s" / "state.json").unlink()
    assert EditSession.open(tmp_path / "s").head.id == "v1"


class _Killed(BaseException):
    pass


def _die(*args, **kwargs):
    raise _Killed


CHILD = textwrap.dedent(
    """
    import hashlib, random, sys, time
    import numpy as np
    from PIL import Image
    from editlab.editors import Editor
    from editlab.session import EditSession

    class Slowish(Editor):
        name = "slowish"
        def edit_batch(self, requests):
            time.sleep(random.random() * 0.01)
            out = []
            for r in requests:
                a = np.asarray(r.image).copy()
                a[..., hash(r.instruction) % 3] += 37
                out.append(Image.fromarray(a))
            return out

    session = EditSession.open(sys.argv[1], editor=Slowish())
    rng = random.Random(int(sys.argv[2]))
    print("ready", flush=True)
    while True:
        op = rng.random()
        if op < 0.7:
            v = session.edit(f"turn {len(session)} {rng.random():.6f}")
            print("done", v.id, v.parent, v.image, flush=True)
        elif op < 0.8 and session.can_undo:
            session.undo()
        elif op < 0.85 and session.can_redo:
            session.redo()
        else:
            session.checkout(rng.choice(list(session.versions)))
    """
)


def test_kill_9_at_random_moments_loses_no_finished_turn(tmp_path, photo):
    directory = tmp_path / "s"
    EditSession.create(directory, photo, editor="identity")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    finished: dict[str, tuple[str, str]] = {}
    rng = random.Random(1234)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for round_ in range(6):
        child = subprocess.Popen([sys.executable, str(script), str(directory), str(round_)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0.02, 0.4))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        for line in out.splitlines():
            if line.startswith("done"):
                _, vid, parent, image = line.split()
                finished[vid] = (parent, image)

        session = EditSession.open(directory)
        assert session.verify() == []
        ids = list(session.versions)
        assert ids == [f"v{i}" for i in range(len(ids))]  # no gaps, no duplicates
        for vid, (parent, image) in finished.items():  # every turn that returned is on disk, unchanged
            assert (session[vid].parent, session[vid].image) == (parent, image)
        assert session.head.id in session.versions
        for version in session.versions.values():
            assert version.parent is None or session[version.parent].index < version.index
            assert session.image(version).size == photo.size
        lines = (directory / "log.jsonl").read_bytes().split(b"\n")
        assert all(json.loads(line) for line in lines[:-1])
    assert len(finished) >= 6, "the child should finish some turns between kills"
    # the session keeps working after all that
    session = EditSession.open(directory)
    version = session.edit("after the storm")
    assert version.id == f"v{len(session) - 1}" and np.asarray(session.image()).shape == (32, 48, 3)
