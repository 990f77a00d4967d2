"""`editlab toyworld` commands, example folders, contact sheets, and the oracle editor."""

import json

import pytest
from PIL import Image

from editlab.cli.main import main
from editlab.editors import get_editor
from editlab.errors import EditlabError
from editlab.io import load_image, load_mask
from editlab.toyworld import (
    contact_sheet,
    generate_episode,
    generate_example,
    generate_examples,
    load_example,
)
from editlab.types import EditRequest


def test_sample_writes_examples_and_a_contact_sheet_and_resumes(tmp_path, capsys):
    out = tmp_path / "samples"
    assert main(["toyworld", "sample", "--n", "4", "--seed", "3", "--out", str(out), "--width", "96", "--height", "48"]) == 0
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in folders] == [f"toyworld-train-3-{i:06d}" for i in range(4)]
    for folder in folders:
        record = json.loads((folder / "example.json").read_text())
        assert {"instruction", "task", "split", "family", "meta"} <= set(record)
        assert {"source_scene", "target_scene", "edit"} <= set(record["meta"])
        assert load_image(folder / "source.png").size == (96, 48)
        assert load_mask(folder / "mask.png").mode == "L"
    sheet = load_image(out / "contact_sheet.png")
    assert sheet.width > 3 * 96 and sheet.height > 48
    # The same example as the library makes, byte for byte.
    assert load_example(folders[2]).target.tobytes() == generate_example(3, index=2, width=96, height=48).target.tobytes()
    stamp = (folders[0] / "example.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["toyworld", "sample", "--n", "5", "--seed", "3", "--out", str(out), "--width", "96", "--height", "48"]) == 0
    assert "wrote 1 examples (4 already there)" in capsys.readouterr().out
    assert (folders[0] / "example.json").stat().st_mtime_ns == stamp


def test_score_prints_the_oracle_verdict(tmp_path, capsys):
    out = tmp_path / "s"
    main(["toyworld", "sample", "--n", "1", "--task", "color", "--out", str(out)])
    folder = next(p for p in out.iterdir() if p.is_dir())
    capsys.readouterr()
    assert main(["toyworld", "score", "--example", str(folder), "--edited", str(folder / "target.png")]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["success"] is True and verdict["adherence"] == 5
    instruction = json.loads((folder / "example.json").read_text())["instruction"]
    assert main(["toyworld", "score", "--source", str(folder / "source.png"), "--instruction", instruction,
                 "--edited", str(folder / "source.png")]) == 0
    assert json.loads(capsys.readouterr().out)["success"] is False


def test_episode_and_vocab_commands(tmp_path, capsys):
    out = tmp_path / "ep"
    assert main(["toyworld", "episode", "--seed", "1", "--kind", "backtracking", "--turns", "3", "--out", str(out)]) == 0
    folder = next(p for p in out.iterdir() if p.is_dir())
    assert sorted(p.name for p in folder.iterdir()) == ["episode.json", "turn1", "turn2", "turn3"]
    assert json.loads((folder / "episode.json").read_text())["kind"] == "backtracking"
    assert (out / "contact_sheet.png").exists()
    capsys.readouterr()
    assert main(["toyworld", "vocab"]) == 0
    assert "star" in capsys.readouterr().out.split()


@pytest.mark.parametrize("argv, message", [
    (["sample", "--n", "2", "--out", "x", "--task", "colour"], "did you mean 'color'"),
    (["sample", "--n", "2", "--out", "x", "--width", "8"], "too small"),
    (["sample", "--n", "2", "--out", "x", "--width", "300", "--height", "64"], "aspect ratio"),
    (["sample", "--n", "0", "--out", "x"], "at least 1"),
    (["episode", "--out", "x", "--kind", "nope"], "unknown episode kind"),
    (["score", "--edited", "x.png"], "no such file|not found|--example"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "x.png")
    assert main(["toyworld", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("editlab: error:") and "\n" not in err
    assert any(m in err for m in message.split("|")), err
    assert not (tmp_path / "x" / "contact_sheet.png").exists()


def test_oracle_editor_returns_the_ground_truth_at_the_request_size():
    editor = get_editor("oracle")
    ex = generate_example(6, task="move")
    by_meta = editor.edit(EditRequest(ex.source, ex.instruction, context={"toyworld": ex.meta}))
    by_example = editor.edit(EditRequest(ex.source, ex.instruction, context={"toyworld_example": ex}))
    assert by_meta.tobytes() == by_example.tobytes() == ex.target.tobytes()
    bigger = editor.edit(EditRequest(ex.source.resize((128, 128)), ex.instruction, context={"toyworld": ex.meta}))
    assert bigger.size == (128, 128)
    turn = generate_episode(0, kind="backtracking").turns[-1]
    assert editor.edit(EditRequest(turn.source, turn.instruction, context={"toyworld": turn.meta})).tobytes() == \
        turn.target.tobytes()
    with pytest.raises(EditlabError, match="only works on toyworld"):
        editor.edit(EditRequest(ex.source, ex.instruction))


def test_contact_sheet_handles_any_count():
    assert contact_sheet([]).size[0] > 0
    sheet = contact_sheet(generate_examples(3, seed=0, width=64, height=32), columns=2)
    assert sheet.width > sheet.height
