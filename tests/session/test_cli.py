"""`editlab session ...` end to end through the real argument parser."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from editlab.cli.main import main


@pytest.fixture
def image_file(tmp_path, photo):
    path = tmp_path / "photo.png"
    photo.save(path)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["session", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_whole_session_from_the_command_line(tmp_path, image_file, capsys, registered):
    s = tmp_path / "s"
    assert run(capsys, "new", s, "--image", image_file, "--model", "test-colour", "--steps", "20")[0] == 0
    code, out, _ = run(capsys, "edit", s, "make it red", "--seed", "3", "--guidance-scale", "7.5",
                       "--param", "strength=0.8", "--param", "style=oil")
    assert code == 0 and out.startswith("HEAD v1  (from v0)  'make it red'  seed=3")
    mask = tmp_path / "mask.png"
    Image.new("L", (48, 32), 255).save(mask)
    assert run(capsys, "edit", s, "add a cat", "--mask", mask)[0] == 0
    assert run(capsys, "undo", s)[1].startswith("HEAD v1")
    assert run(capsys, "redo", s)[1].startswith("HEAD v2")
    assert run(capsys, "checkout", s, "HEAD~1")[1].startswith("HEAD v1")
    assert run(capsys, "edit", s, "add a dog", "--from", "v0")[1].startswith("HEAD v3  (from v0)")

    code, out, _ = run(capsys, "log", s)
    assert code == 0 and out.splitlines()[0] == "v0  (original)  48x32" and "v3  add a dog" in out
    records = [json.loads(line) for line in run(capsys, "log", s, "--json")[1].splitlines()]
    assert [r["id"] for r in records] == ["v0", "v1", "v2", "v3"] and records[3]["head"]
    assert records[1]["params"] == {"num_inference_steps": 20, "guidance_scale": 7.5, "strength": 0.8, "style": "oil"}
    assert records[2]["mask"] is not None

    shown = json.loads(run(capsys, "show", s, "v1")[1])
    assert shown["instruction"] == "make it red"
    assert run(capsys, "show", s, "v1", "-o", tmp_path / "v1.jpg")[0] == 0
    assert Image.open(tmp_path / "v1.jpg").size == (48, 32)

    code, out, _ = run(capsys, "export", s, "--sheet", tmp_path / "sheet.png", "--gif", tmp_path / "h.gif", "--tree")
    assert code == 0 and (tmp_path / "sheet.png").is_file() and (tmp_path / "h.gif").is_file()
    code, out, _ = run(capsys, "replay", s)
    assert code == 0 and out.splitlines()[-1] == "3/3 turns reproduced"
    code, out, _ = run(capsys, "replay", s, "--model", "test-noisy")
    assert code == 1 and "differ: v1, v2, v3" in out
    assert run(capsys, "verify", s)[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["new", "{s}", "--image", "{missing}", "--model", "identity"], "file not found"),
        (["new", "{s}", "--image", "{image}", "--model", "no-such-model"], "no-such-model"),
        (["new", "{s}", "--image", "{image}", "--model", "identity", "--param", "oops"], "is not KEY=VALUE"),
        (["edit", "{s}", "hi"], "not an editlab session"),
    ],
)
def test_errors_are_one_line_exit_2_and_write_nothing(tmp_path, image_file, capsys, argv, message):
    values = {"s": tmp_path / "s", "missing": tmp_path / "nope.png", "image": image_file}
    code, out, err = run(capsys, *[a.format(**values) for a in argv])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_turn_errors_leave_the_session_as_it_was(tmp_path, image_file, capsys):
    s = tmp_path / "s"
    run(capsys, "new", s, "--image", image_file, "--model", "identity")
    before = (s / "log.jsonl").read_bytes(), (s / "state.json").read_bytes()
    small = tmp_path / "small.png"
    Image.new("L", (5, 5)).save(small)
    for argv, message in [
        (["edit", s, ""], "instruction is empty"),
        (["edit", s, "x", "--mask", small], "mask is 5x5 but the image is 48x32"),
        (["undo", s], "nothing to undo"),
        (["checkout", s, "v4"], "unknown version 'v4'"),
        (["export", s], "nothing to export"),
    ]:
        code, _, err = run(capsys, *argv)
        assert code == 2 and message in err, err
    assert ((s / "log.jsonl").read_bytes(), (s / "state.json").read_bytes()) == before


@pytest.mark.parametrize("step", ["new", "edit", "undo", "redo", "checkout", "log", "show", "export", "replay", "verify"])
def test_help_of_every_step_has_an_example(step, capsys):
    with pytest.raises(SystemExit) as info:
        main(["session", step, "--help"])
    assert info.value.code == 0
    assert "example:\n  editlab session " + step in capsys.readouterr().out


def test_session_without_a_step_prints_help(capsys):
    assert main(["session"]) == 2
    assert "<step>" in capsys.readouterr().out
