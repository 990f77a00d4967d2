"""EditSession: turns, undo/redo, checkout and branches, seeds, replay, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from editlab.editors import Editor, IdentityEditor
from editlab.errors import EditlabError
from editlab.session import EditSession, Version


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_create_stores_the_original_as_v0(tmp_path, photo):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    assert session.head.id == "v0" and session.head.is_root
    assert np.array_equal(pixels(session.image()), pixels(photo))
    meta = json.loads((tmp_path / "s" / "session.json").read_text())
    # the editor is described by each turn that uses it (creating a session loads no model)
    assert meta["format_version"] == 1 and meta["editor"] == {"spec": "identity", "describe": {}}
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        ".lock", "log.jsonl", "masks", "session.json", "state.json", "versions"]


def test_create_loads_no_model_but_refuses_an_unknown_one(tmp_path, photo, monkeypatch):
    import editlab.session.session as session_module
    from editlab.errors import EditlabError

    def no_loading(*_, **__):
        raise AssertionError("create() loaded a model")

    monkeypatch.setattr(session_module, "get_editor", no_loading)
    EditSession.create(tmp_path / "s", photo, editor="toyworld")
    with pytest.raises(EditlabError, match="unknown model 'not-a-model'"):
        EditSession.create(tmp_path / "t", photo, editor="not-a-model")
    assert not (tmp_path / "t").exists()


def test_each_turn_edits_head_and_is_recorded(tmp_path, photo, fakes):
    session = EditSession.create(tmp_path / "s", photo, editor=fakes.InvertEditor(), seed=5, num_inference_steps=20)
    v1 = session.edit("invert it", guidance_scale=7.5)
    v2 = session.edit("invert it again", seed=11)
    assert (v1.id, v1.parent, v2.id, v2.parent) == ("v1", "v0", "v2", "v1")
    assert np.array_equal(pixels(session.image("v1")), pixels(ImageOps.invert(photo)))
    assert np.array_equal(pixels(session.image()), pixels(photo))
    assert v1.params == {"num_inference_steps": 20, "guidance_scale": 7.5}
    assert v2.params == {"num_inference_steps": 20} and v2.seed == 11
    assert v1.editor == {"editor": "test-invert"} and v1.size == (48, 32)
    # the log holds exactly what the Version says, one line per version
    lines = (tmp_path / "s" / "log.jsonl").read_text().splitlines()
    assert [Version.from_record(json.loads(line)) for line in lines] == [session.root, v1, v2]
    assert [v.id for v in session.history()] == ["v0", "v1", "v2"]


def test_undo_redo_and_branching(tmp_path, photo, fakes):
    session = EditSession.create(tmp_path / "s", photo, editor=fakes.ColourEditor())
    session.edit("a")
    session.edit("b")
    assert session.undo().id == "v1"
    assert session.redo().id == "v2"
    assert session.undo(2).id == "v0" and session.can_redo
    assert session.redo(2).id == "v2" and not session.can_redo
    session.undo()
    branch = session.edit("c")  # editing after an undo opens a branch and clears redo
    assert branch.parent == "v1" and not session.can_redo
    with pytest.raises(EditlabError, match="nothing to redo"):
        session.redo()
    session.checkout("v0")
    other = session.edit("d")
    assert other.parent == "v0"
    assert [c.id for c in session.children("v1")] == ["v2", "v3"]
    assert sorted(v.id for v in session.leaves()) == ["v2", "v3", "v4"]
    tree = session.tree()
    assert [n.version.id for n in tree.walk()] == ["v0", "v1", "v2", "v3", "v4"]
    text = session.format_tree()
    assert text.splitlines()[0].startswith("v0") and "v4  d" in text and text.endswith("<- HEAD")


def test_undo_errors_do_not_move_head(tmp_path, photo):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    with pytest.raises(EditlabError, match="nothing to undo"):
        session.undo()
    session.edit("a")
    with pytest.raises(EditlabError, match="cannot undo 3 turns"):
        session.undo(3)
    assert session.head.id == "v1"
    assert EditSession.open(tmp_path / "s").head.id == "v1"


def test_refs(tmp_path, photo):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    for word in "abc":
        session.edit(word)
    assert session.resolve("HEAD").id == "v3"
    assert session.resolve("HEAD~2").id == "v1" and session.resolve("head^").id == "v2"
    assert session.resolve("root").id == "v0" and session.resolve(2).id == "v2" and session["v1"].instruction == "a"
    with pytest.raises(EditlabError, match="unknown version 'v9'"):
        session.resolve("v9")
    with pytest.raises(EditlabError, match="only 3 ancestors"):
        session.resolve("HEAD~4")


def test_state_survives_reopen(tmp_path, photo):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    session.edit("a")
    session.edit("b")
    session.undo()
    again = EditSession.open(tmp_path / "s")
    assert again.head.id == "v1" and again.can_redo and again.redo().id == "v2"


def test_seeds_are_derived_recorded_and_reproducible(tmp_path, photo, fakes):
    first = EditSession.create(tmp_path / "a", photo, editor=fakes.ColourEditor(), seed=3)
    second = EditSession.create(tmp_path / "b", photo, editor=fakes.ColourEditor(), seed=3)
    other = EditSession.create(tmp_path / "c", photo, editor=fakes.ColourEditor(), seed=4)
    seeds = [[s.edit(w).seed for w in ("x", "y")] for s in (first, second, other)]
    assert seeds[0] == seeds[1] != seeds[2]
    assert len(set(seeds[0])) == 2
    assert first.head.image == second.head.image  # same seeds, same editor: same pixels
    # a retry after undo gets a fresh seed (a new sample), unless one is given
    first.undo()
    assert first.edit("y").seed != seeds[0][1]


def test_masks_are_stored_and_passed_to_the_editor(tmp_path, photo, fakes):
    editor = fakes.ColourEditor()
    session = EditSession.create(tmp_path / "s", photo, editor=editor)
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (0, 0, 24, 32))
    version = session.edit("left half only", mask=mask)
    assert version.mask is not None and (tmp_path / "s" / "masks" / f"{version.mask}.png").is_file()
    assert np.array_equal(np.asarray(session.mask(version)), np.asarray(mask))
    out = pixels(session.image())
    assert np.array_equal(out[:, 24:], pixels(photo)[:, 24:])  # outside the mask untouched
    assert not np.array_equal(out[:, :24], pixels(photo)[:, :24])
    assert editor.calls[-1].mask is not None


def test_context_reaches_the_editor_but_is_not_stored(tmp_path, photo, fakes):
    editor = fakes.ColourEditor()
    session = EditSession.create(tmp_path / "s", photo, editor=editor)
    session.edit("x", context={"truth": object()})
    assert "truth" in editor.calls[-1].context
    assert "truth" not in (tmp_path / "s" / "log.jsonl").read_text()


def test_replay_checks_every_turn(tmp_path, photo, registered):
    session = EditSession.create(tmp_path / "s", photo, editor="test-colour")
    session.edit("a")
    session.undo()
    session.edit("b", mask=Image.new("L", photo.size, 255), num_inference_steps=3)
    assert [(r.version, r.ok, r.max_abs_diff) for r in session.replay()] == [("v1", True, 0), ("v2", True, 0)]
    noisy = session.replay("test-noisy")
    assert not any(r.ok for r in noisy) and all(r.max_abs_diff > 0 for r in noisy)


def test_verify_finds_damaged_files(tmp_path, photo, fakes):
    session = EditSession.create(tmp_path / "s", photo, editor=fakes.InvertEditor())
    version = session.edit("x")
    assert session.verify() == []
    path = tmp_path / "s" / "versions" / f"{version.image}.png"
    Image.new("RGB", (48, 32)).save(path)
    assert session.verify() == [f"v1: image {path.name} was altered (sha256 differs)"]
    path.unlink()
    assert "missing" in session.verify()[0]


def test_editor_is_built_only_when_a_turn_needs_it(tmp_path, photo, registered, monkeypatch, fakes):
    EditSession.create(tmp_path / "s", photo, editor="test-colour").edit("a")
    built = []
    monkeypatch.setitem(registered._entries, "test-colour", lambda arg=None, **_: built.append(1) or fakes.ColourEditor())
    session = EditSession.open(tmp_path / "s")
    session.undo()
    session.export_gif(tmp_path / "h.gif")
    assert built == []
    session.edit("b")
    assert built == [1] and session.head.editor["weights"] == "sha256:abc"


def test_custom_editor_object_must_be_passed_again(tmp_path, photo, fakes):
    EditSession.create(tmp_path / "s", photo, editor=fakes.InvertEditor())
    with pytest.raises(EditlabError, match="pass it again"):
        EditSession.open(tmp_path / "s").edit("x")
    assert EditSession.open(tmp_path / "s", editor=fakes.InvertEditor()).edit("x").id == "v1"


def test_each_turn_records_its_own_backend(tmp_path, photo, registered):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    session.edit("a")
    other = EditSession.open(tmp_path / "s", editor="test-colour")
    other.edit("b")
    assert [v.editor.get("editor") for v in other.history()[1:]] == ["identity", "test-colour"]


@pytest.mark.parametrize("editor", ["identity", "test-invert", "test-colour"])
def test_works_with_every_backend(tmp_path, photo, registered, editor):
    session = EditSession.create(tmp_path / "s", photo, editor=editor)
    session.edit("one")
    session.undo()
    session.edit("two", mask=Image.new("L", photo.size, 255))
    session.checkout("v1")
    session.edit("three")
    assert len(session) == 4 and session.head.parent == "v1"
    assert all(session.image(v).size == photo.size for v in session.versions)
    assert all(r.ok for r in session.replay())


def test_two_handles_on_one_session_see_each_other(tmp_path, photo):
    a = EditSession.create(tmp_path / "s", photo, editor="identity")
    b = EditSession.open(tmp_path / "s")
    a.edit("from a")
    b_version = b.edit("from b")  # b refreshes first: no id clash, edits a's HEAD
    assert (b_version.id, b_version.parent) == ("v2", "v1")
    a.refresh()
    assert a.head.id == "v2" and len(a) == 3


# -- errors: one clear line, nothing written -----------------------------------------------------


def test_bad_input_writes_nothing(tmp_path, photo):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for kwargs, message in [
        ({"image": corrupt, "editor": "identity"}, "corrupt.png"),
        ({"image": photo, "editor": "no-such-model"}, "no-such-model"),
        ({"image": photo, "editor": "identity", "seed": -1}, "out of range"),
        ({"image": photo, "editor": "identity", "steps": object()}, "cannot be recorded"),
    ]:
        with pytest.raises(EditlabError, match=message):
            EditSession.create(tmp_path / "s", **kwargs)
        assert not (tmp_path / "s").exists()
        assert [p.name for p in tmp_path.iterdir()] == ["corrupt.png"]


def test_existing_folder_is_refused(tmp_path, photo):
    EditSession.create(tmp_path / "s", photo, editor="identity")
    with pytest.raises(EditlabError, match="is a session; pick a new folder"):
        EditSession.create(tmp_path / "s", photo, editor="identity")
    (tmp_path / "empty").mkdir()
    assert EditSession.create(tmp_path / "empty", photo, editor="identity").head.id == "v0"


def test_bad_turns_write_nothing(tmp_path, photo, registered):
    session = EditSession.create(tmp_path / "s", photo, editor="identity")
    log = (tmp_path / "s" / "log.jsonl").read_bytes()
    state = (tmp_path / "s" / "state.json").read_bytes()
    attempts = [
        (lambda: session.edit("   "), "instruction is empty"),
        (lambda: session.edit("x", mask=Image.new("L", (10, 10))), "mask is 10x10 but the image is 48x32"),
        (lambda: session.edit("x", seed=1.5), "seed must be an integer"),
        (lambda: EditSession.open(tmp_path / "s", editor="test-shrinking").edit("x"), "must keep the input size"),
        (lambda: EditSession.open(tmp_path / "s", editor="test-failing").edit("x"), "out of memory"),
        (lambda: session.checkout("v7"), "unknown version"),
    ]
    for attempt, message in attempts:
        with pytest.raises((EditlabError, RuntimeError), match=message):
            attempt()
    assert (tmp_path / "s" / "log.jsonl").read_bytes() == log
    assert (tmp_path / "s" / "state.json").read_bytes() == state
    assert len(list((tmp_path / "s" / "versions").iterdir())) == 1


def test_open_something_that_is_not_a_session(tmp_path):
    with pytest.raises(EditlabError, match="not an editlab session"):
        EditSession.open(tmp_path / "nowhere")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "session.json").write_text('{"format": "editlab-session", "format_version": 99}')
    with pytest.raises(EditlabError, match="upgrade editlab"):
        EditSession.open(tmp_path / "x")


def test_subclass_without_describe_override_works(tmp_path, photo):
    class Minimal(Editor):
        def edit_batch(self, requests):
            return [r.image for r in requests]

    session = EditSession.create(tmp_path / "s", photo, editor=Minimal())
    assert session.edit("x").editor == {"editor": "editor"}
    assert isinstance(IdentityEditor().describe(), dict)
