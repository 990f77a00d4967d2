"""Damaged or hand-edited session files: one clear error (or a rebuilt state), never a traceback.

Also the leftovers of killed writes (verify lists them, gc removes them) and concurrent edits.
"""

from __future__ import annotations

import json
import threading
import time
import warnings

import pytest
from PIL import Image

from editlab.editors import Editor
from editlab.errors import EditlabError
from editlab.session import EditSession


@pytest.fixture
def session(tmp_path, photo, fakes):
    s = EditSession.create(tmp_path / "s", photo, editor=fakes.InvertEditor())
    s.edit("invert")  # v1 has its own image (identity would share v0's)
    return s


def _image_file(session, ref="v1"):
    return session.path / "versions" / f"{session[ref].image}.png"


def _append(session, line: str) -> None:
    with open(session.path / "log.jsonl", "a") as handle:
        handle.write(line + "\n")


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_version_image_is_a_one_line_error_everywhere_it_loads(session, tmp_path, fakes, damage):
    file = _image_file(session)
    data = file.read_bytes()
    file.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"not a png"}[damage])
    reopened = EditSession.open(session.path, editor=fakes.InvertEditor())
    for action in (lambda: reopened.image("v1"),
                   lambda: reopened.export_contact_sheet(tmp_path / "sheet.png"),
                   lambda: reopened.export_gif(tmp_path / "h.gif"),
                   lambda: reopened.edit("again")):
        with pytest.raises(EditlabError, match=r"v1|is damaged") as caught:
            action()
        assert "is damaged" in str(caught.value) and "session verify" in str(caught.value)
    assert len(EditSession.open(session.path)) == 2  # the failed edit wrote no turn
    assert not (tmp_path / "sheet.png").exists() and not (tmp_path / "h.gif").exists()
    assert any("v1: image" in p for p in reopened.verify())


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "v2"}', "line 3: version record has no 'index'"),
    ('{"id": "v2", "index": 2, "parent": "v1", "image": "../../x", "size": [48, 32]}',
     "image = '../../x', expected a sha256 hash"),
    ('{"id": "v2", "index": 2, "parent": "v1", "image": "' + "a" * 64 + '", "size": "big"}',
     "size = 'big', expected [width, height]"),
    ('{"id": "v2", "index": 2, "parent": "v1", "image": "' + "a" * 64 + '", "size": [4, 4], "params": []}',
     "params = [], expected an object"),
    ('{"id": "v2", "index": 2, "parent": "v1", "image": "' + "a" * 64 + '", "size": [4, 4], "mask": "/etc/x"}',
     "mask = '/etc/x', expected a sha256 hash"),
])
def test_wrong_shaped_log_lines_name_the_line(session, line, message):
    _append(session, line)
    with pytest.raises(EditlabError, match="line 3") as caught:
        EditSession.open(session.path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_line_is_met_again_on_the_next_refresh(session):
    _append(session, '{"id": "v2"}')
    for _ in range(2):  # the reader must not skip past the bad line after the first error
        with pytest.raises(EditlabError, match="line 3"):
            session.refresh()


def test_an_image_reference_outside_the_session_is_never_read(session, tmp_path):
    Image.new("RGB", (48, 32)).save(tmp_path / "x.png")
    log = session.path / "log.jsonl"
    lines = log.read_text().splitlines()
    record = json.loads(lines[1])
    record["image"] = "../../x"
    log.write_text("\n".join([lines[0], json.dumps(record)]) + "\n")
    with pytest.raises(EditlabError, match="expected a sha256 hash"):
        EditSession.open(session.path)


@pytest.mark.parametrize(("content", "message"), [
    ("[1, 2]", "is not an editlab session file"),
    ("{not json", "is not valid JSON"),
    (None, "'defaults' is a str, expected an object of parameters"),
    ("seed", "'seed' is a str, expected an integer"),
    ("editor", "'editor' is a list, expected an object"),
])
def test_a_damaged_session_json_is_a_one_line_error(session, content, message):
    path = session.path / "session.json"
    meta = json.loads(path.read_text())
    if content is None:
        meta["defaults"] = "steps=20"
    elif content == "seed":
        meta["seed"] = "zero"
    elif content == "editor":
        meta["editor"] = ["identity"]
    path.write_text(content if content in ("[1, 2]", "{not json") else json.dumps(meta))
    with pytest.raises(EditlabError) as caught:
        EditSession.open(session.path)
    assert message in str(caught.value) and "session.json" in str(caught.value)


@pytest.mark.parametrize("state", [{"head": ["v1"], "redo": [], "seen": 2}, [1, 2],
                                   {"head": "v0", "redo": [["v1"]], "seen": 2}, {"head": "v0", "seen": "2"}])
def test_a_wrong_shaped_state_json_is_rebuilt_from_the_log_with_a_warning(session, state):
    session.undo()
    (session.path / "state.json").write_text(json.dumps(state))
    with pytest.warns(UserWarning, match="state.json: .*HEAD is taken from the log"):
        reopened = EditSession.open(session.path)
    assert reopened.head.id == "v1"  # the newest turn, as after a crash before state.json was written
    assert any(p.startswith("state.json:") for p in reopened.verify())
    reopened.undo()  # the next change rewrites a good state.json
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert EditSession.open(session.path).head.id == "v0"


def test_verify_lists_leftovers_of_killed_writes_and_gc_removes_only_them(session, tmp_path):
    s = session.path
    orphan = s / "versions" / f"{'b' * 64}.png"
    Image.new("RGB", (48, 32)).save(orphan)  # image written, killed before its log line
    leftovers = [orphan, s / ".state.json.tmp-abc123", s / "versions" / f".{'c' * 64}.png.tmp-x1",
                 s / "masks" / f".{'d' * 64}.png.tmp-x2"]
    for path in leftovers[1:]:
        path.write_bytes(b"partial")
    temp_folder = tmp_path / ".s.tmp-k9"  # a killed `session new s`
    (temp_folder / "versions").mkdir(parents=True)
    kept = [s / "versions" / "notes.txt", tmp_path / ".other.tmp-1"]  # not ours to remove
    kept[0].write_text("mine")
    kept[1].mkdir()

    assert session.verify() == []  # damage only; leftovers are listed apart
    assert session.leftovers() == sorted([*leftovers, temp_folder])
    assert session.gc() == sorted([*leftovers, temp_folder])
    assert session.leftovers() == [] and all(p.exists() for p in kept)
    assert not any(p.exists() for p in [*leftovers, temp_folder])
    assert session.image("v1").size == (48, 32) and session.edit("still works").id == "v2"


def test_cli_verify_reports_leftovers_and_gc_removes_them(session, capsys):
    from editlab.cli.main import main

    (session.path / ".state.json.tmp-abc").write_text("{")
    assert main(["session", "verify", str(session.path)]) == 0  # leftovers are harmless
    out = capsys.readouterr().out
    assert "leftover: .state.json.tmp-abc" in out and f"editlab session gc {session.path}" in out
    assert main(["session", "gc", str(session.path)]) == 0
    assert "removed .state.json.tmp-abc" in capsys.readouterr().out
    assert main(["session", "verify", str(session.path)]) == 0
    assert "leftover" not in capsys.readouterr().out


class SlowEditor(Editor):
    """Takes long enough that two concurrent edits overlap; records the seeds it was given."""

    name = "test-slow"

    def __init__(self, seeds):
        self.seeds = seeds

    def edit_batch(self, requests):
        time.sleep(0.3)
        self.seeds.extend(r.seed for r in requests)
        return [r.image.rotate(90, expand=False) for r in requests]


def test_concurrent_edits_chain_with_distinct_seeds(tmp_path, photo):
    EditSession.create(tmp_path / "s", photo, editor="identity")
    seeds: list[int] = []
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def edit(instruction):
        try:
            session = EditSession.open(tmp_path / "s", editor=SlowEditor(seeds))
            start.wait()
            session.edit(instruction)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=edit, args=(word,)) for word in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    final = EditSession.open(tmp_path / "s")
    assert [(v.id, v.parent) for v in final.versions.values()] == [("v0", None), ("v1", "v0"), ("v2", "v1")]
    assert final.head.id == "v2" and len(set(seeds)) == 2
    assert [final["v1"].seed, final["v2"].seed] == seeds
