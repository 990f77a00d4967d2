"""Every subcommand over bad arguments and damaged files: exit 2, one line naming the problem, no traceback.

Each case builds its inputs under tmp_path, runs `editlab ...` in process and checks that nothing
under tmp_path changed. The identity editor is used wherever an editor is needed, so no model loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from editlab.cli.main import main
from editlab.session import EditSession


def _image(root: Path) -> Path:
    path = root / "photo.png"
    if not path.exists():
        Image.new("RGB", (24, 16), (40, 90, 160)).save(path)
    return path


def _session(root: Path) -> Path:
    """A session s with v0 and v1 (identity editor: both share one image file)."""
    session = EditSession.create(root / "s", _image(root), editor="identity")
    session.edit("make it red")
    return session.path


def _version_png(root: Path) -> Path:
    (path,) = (root / "s" / "versions").glob("*.png")
    return path


def _truncated_png(root: Path) -> Path:
    s = _session(root)
    data = _version_png(root).read_bytes()
    _version_png(root).write_bytes(data[: len(data) // 2])
    return s


def _empty_png(root: Path) -> Path:
    s = _session(root)
    _version_png(root).write_bytes(b"")
    return s


def _log_line(line: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        s = _session(root)
        with open(s / "log.jsonl", "a") as handle:
            handle.write(line + "\n")
        return s
    return build


def _escaping_image_field(root: Path) -> Path:
    s = _session(root)
    lines = (s / "log.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    record["image"] = "../../photo"
    (s / "log.jsonl").write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    return s


def _session_json(change: Callable[[dict], object]) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        s = _session(root)
        meta = json.loads((s / "session.json").read_text())
        (s / "session.json").write_text(json.dumps(change(meta)))
        return s
    return build


def _imgedit(key: str | None) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        data = root / "data"
        (data / "singleturn").mkdir(parents=True)
        Image.new("RGB", (16, 16)).save(data / "singleturn" / "0.png")
        name = key if key != "ABSOLUTE" else str(root / "elsewhere" / "x")
        entries = {"1": {"id": "0.png", "prompt": "add a cat"}, name: {"id": "0.png", "prompt": "add a dog"}}
        (data / "basic_edit.json").write_text(json.dumps(entries))
        return data
    return build


def _bench(key: str) -> Callable[[Path], list]:
    return lambda root: ["bench", "--model", "identity", "--benchmark", "imgedit", "--data", _imgedit(key)(root),
                         "--out", root / "out" / "deep", "--judge", "none"]


def _on_session(build: Callable[[Path], Path], *args: object) -> Callable[[Path], list]:
    return lambda root: ["session", args[0], build(root), *[a(root) if callable(a) else a for a in args[1:]]]


def _file(name: str) -> Callable[[Path], Path]:
    return lambda root: root / name


CASES: dict[str, tuple[Callable[[Path], list], str]] = {
    # damaged session files
    "show a truncated version png": (_on_session(_truncated_png, "show", "v1", "-o", _file("v1.png")), "is damaged"),
    "export an empty version png": (_on_session(_empty_png, "export", "--sheet", _file("sheet.png")),
                                    "is damaged (0 bytes)"),
    "gif of a truncated version png": (_on_session(_truncated_png, "export", "--gif", _file("h.gif")), "is damaged"),
    "edit from a truncated png": (_on_session(_truncated_png, "edit", "again"), "is damaged"),
    "log line without fields": (_on_session(_log_line('{"id": "v2"}'), "log"),
                                "line 3: version record has no 'index'"),
    "log line that is a list": (_on_session(_log_line("[1, 2]"), "log"), "line 3 is a JSON list"),
    "log line with a bad size": (_on_session(_log_line(json.dumps(
        {"id": "v2", "index": 2, "parent": "v1", "image": "a" * 64, "size": [0, -1]})), "log"), "size = [0, -1]"),
    "log image field escaping the session": (_on_session(_escaping_image_field, "show", "v1", "-o", _file("v.png")),
                                             "expected a sha256 hash"),
    "session.json is a list": (_on_session(_session_json(lambda m: [1, 2]), "log"), "not an editlab session file"),
    "session.json defaults a string": (_on_session(_session_json(lambda m: {**m, "defaults": "x"}), "edit", "go"),
                                       "'defaults' is a str"),
    "session.json seed a string": (_on_session(_session_json(lambda m: {**m, "seed": "0"}), "edit", "go"),
                                   "'seed' is a str"),
    "session.json editor spec a number": (_on_session(_session_json(
        lambda m: {**m, "editor": {"spec": 3}}), "edit", "go"), "'editor.spec' is a int"),
    "session.json format_version text": (_on_session(_session_json(
        lambda m: {**m, "format_version": "one"}), "log"), "'format_version' is a str"),
    # bad arguments
    "not a session": (lambda root: ["session", "undo", root / "nope"], "is not an editlab session"),
    "unknown version": (_on_session(_session, "checkout", "v9"), "unknown version 'v9'"),
    "too many undos": (_on_session(_session, "undo", "-n", "5"), "cannot undo 5 turns"),
    "new over a session": (lambda root: ["session", "new", _session(root), "--image", _image(root), "--model",
                                         "identity"], "is a session"),
    "negative seed": (_on_session(_session, "edit", "go", "--seed", "-1"), "out of range"),
    "blank instruction": (_on_session(_session, "edit", "   "), "instruction is empty"),
    "missing mask": (_on_session(_session, "edit", "go", "--mask", _file("nomask.png")), "file not found"),
    "mask of the wrong size": (lambda root: ["session", "edit", _session(root), "go", "--mask", _mask(root)],
                               "mask is 5x5"),
    "unknown output extension": (_on_session(_session, "show", "v1", "-o", _file("v.xyz")),
                                 "unknown image extension"),
    "nothing to export": (_on_session(_session, "export"), "nothing to export"),
    "bad --param": (_on_session(_session, "edit", "go", "--param", "novalue"), "is not KEY=VALUE"),
    "edit a missing image": (lambda root: ["edit", root / "missing.png", "go", "-o", root / "o.png", "--model",
                                           "identity"], "file not found"),
    "edit to an unknown extension": (lambda root: ["edit", _image(root), "go", "-o", root / "o.txt", "--model",
                                                   "identity"], "unknown image extension"),
    "batch from a missing jobs file": (lambda root: ["edit", root / "jobs.jsonl", "go", "-o", root / "out",
                                                     "--model", "identity"], "file not found"),
    "bench key going up": (_bench("../../../x"), "cannot be a file name"),
    "bench key absolute": (_bench("ABSOLUTE"), "cannot be a file name (it is an absolute path)"),
    "bench key with a NUL": (_bench("a\x00b"), "control character"),
    "bench without --model": (lambda root: ["bench", "--benchmark", "imgedit", "--out", root / "out"],
                               "--model is required"),
}


def _mask(root: Path) -> Path:
    Image.new("L", (5, 5), 255).save(root / "small_mask.png")
    return root / "small_mask.png"


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    build, expected = CASES[case]
    argv = [str(arg) for arg in build(tmp_path)]
    capsys.readouterr()
    before = _snapshot(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith("editlab: error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert _snapshot(tmp_path) == before, "an error must write nothing"


def test_batch_item_failures_exit_1_with_one_line_each(tmp_path, capsys):
    _image(tmp_path)
    jobs = tmp_path / "jobs.jsonl"
    lines = [{"image": "photo.png", "instruction": "fine", "id": "good"},
             {"image": "photo.png", "instruction": "escape", "id": "../../x"},
             {"image": "gone.png", "instruction": "missing"},
             "{not json"]
    jobs.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    code = main(["edit", str(jobs), "-o", str(tmp_path / "out"), "--model", "identity"])
    err = capsys.readouterr().err
    failures = [line for line in err.splitlines() if line.startswith("editlab: item ")]
    assert code == 1 and "Traceback" not in err
    assert len(failures) == 3
    assert "line 2: id '../../x' cannot be a file name" in failures[0]
    assert "gone.png: file not found" in failures[1] and "not valid JSON" in failures[2]
    assert (tmp_path / "out" / "good.png").exists() and not (tmp_path / "x.png").exists()


def test_a_damaged_state_json_warns_once_and_the_log_gives_head(tmp_path, capsys):
    s = _session(tmp_path)
    (s / "state.json").write_text(json.dumps({"head": ["v1"], "redo": [], "seen": 2}))
    assert main(["session", "log", str(s)]) == 0
    out, err = capsys.readouterr()
    assert "v1  make it red" in out and "<- HEAD" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("editlab: warning: ") and "state.json: 'head' is ['v1'], expected a version id" in line
    assert main(["session", "verify", str(s)]) == 1
    assert "state.json: 'head' is ['v1']" in capsys.readouterr().out
    assert main(["session", "undo", str(s)]) == 0  # rewrites state.json
    capsys.readouterr()
    assert main(["session", "log", str(s)]) == 0 and capsys.readouterr().err == ""
