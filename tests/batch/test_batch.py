"""run_batch: folders and JSONL jobs, mixed sizes, per-item errors, manifest, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from editlab.batch import MANIFEST, SUMMARY, load_jobs, read_manifest, run_batch
from editlab.errors import EditlabError


def manifest_lines(out):
    return [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]


def test_folder_with_sidecars_masks_and_two_sizes(folder, tmp_path, fakes):
    editor = fakes.RecordingEditor()
    path = run_batch(folder, tmp_path / "out", editor, instruction="make it snow", batch_size=2, progress=False)
    assert path == tmp_path / "out" / MANIFEST
    records = manifest_lines(tmp_path / "out")
    assert [r["id"] for r in records] == ["a", "b", "c", "d", "e"]  # one line per item, in job order
    assert all(r["status"] == "ok" and r["error"] is None for r in records)
    by_id = {r["id"]: r for r in records}
    assert by_id["b"]["instruction"] == "make it blue" and by_id["a"]["instruction"] == "make it snow"
    assert by_id["c"]["mask"] == "c.mask.png" and by_id["a"]["mask"] is None
    # same-size images share editor calls, never more than batch_size, never mixed sizes
    assert all(len(call) <= 2 and len(set(call)) == 1 for call in editor.calls)
    assert sorted(map(len, editor.calls)) == [1, 2, 2]
    for name in "abcde":
        source = Image.open(folder / f"{name}.png").convert("RGB")
        output = Image.open(tmp_path / "out" / f"{name}.png")
        assert output.size == source.size
        if name != "c":
            assert np.array_equal(np.asarray(output), np.asarray(ImageOps.invert(source)))
    c_out, c_in = np.asarray(Image.open(tmp_path / "out" / "c.png")), np.asarray(Image.open(folder / "c.png"))
    assert np.array_equal(c_out[:, 16:], c_in[:, 16:]) and not np.array_equal(c_out[:, :16], c_in[:, :16])
    summary = json.loads((tmp_path / "out" / SUMMARY).read_text())
    assert (summary["total"], summary["ok"], summary["error"], summary["skipped"]) == (5, 5, 0, 0)


def test_folder_without_instruction_is_a_per_item_error(folder, tmp_path, fakes):
    run_batch(folder, tmp_path / "out", fakes.RecordingEditor(), progress=False)
    status = {r["id"]: (r["status"], r["error"]) for r in manifest_lines(tmp_path / "out")}
    assert status["b"] == ("ok", None)
    assert status["a"][0] == "error" and "no instruction; add a.txt" in status["a"][1]


def test_jsonl_jobs_with_every_kind_of_problem(tmp_path, fakes, image_maker):
    (tmp_path / "img").mkdir()
    image_maker(tmp_path / "img" / "one.png", (16, 16), 1)
    image_maker(tmp_path / "img" / "two.png", (24, 16), 2)
    (tmp_path / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    Image.new("L", (8, 8), 255).save(tmp_path / "img" / "small_mask.png")
    lines = [
        {"image": "img/one.png", "instruction": "first", "seed": 7, "params": {"num_inference_steps": 3}},
        "{not json",
        {"image": "img/missing.png", "instruction": "gone"},
        {"image": "img/two.png", "instruction": "masked", "mask": "img/small_mask.png"},
        {"image": "img/corrupt.png", "instruction": "broken"},
        {"image": "img/two.png", "instruction": "  "},
        {"image": "img/one.png", "instruction": "same id again"},
        {"instruction": "no image"},
        {"image": "img/two.png", "instruction": "second", "id": "two-b", "source_dataset": "magicbrush"},
        {"image": "img/one.png", "instruction": "bad id", "id": "../escape"},
        ["not", "an", "object"],
    ]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n\n")
    editor = fakes.RecordingEditor()
    run_batch(jobs, tmp_path / "out", editor, defaults={"guidance_scale": 7.5}, progress=False)
    records = {r["id"]: r for r in manifest_lines(tmp_path / "out")}
    errors = {r["line"]: r["error"] for r in records.values() if r["status"] == "error"}
    assert sorted(r["id"] for r in records.values() if r["status"] == "ok") == ["one", "two-b"]
    assert errors[2].startswith("line 2: not valid JSON")
    assert errors[3].startswith("line 3: ") and "missing.png: file not found" in errors[3]
    assert "mask is 8x8 but the image is 24x16" in errors[4]
    assert "corrupt" in errors[5]
    assert "line 6: empty or missing 'instruction'" in errors[6]
    assert "line 7: duplicate id 'one' (first used by line 1)" in errors[7]
    assert "line 8: missing 'image'" in errors[8]
    assert "cannot be a file name" in errors[10]
    assert "line 11: expected a JSON object" in errors[11]
    one = records["one"]
    assert one["seed"] == 7 and one["params"] == {"guidance_scale": 7.5, "num_inference_steps": 3}
    assert records["two-b"]["meta"] == {"source_dataset": "magicbrush"}
    assert editor.requests[0].seed == 7 and editor.requests[0].params["num_inference_steps"] == 3
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "out" / "one~7.png").exists()


def test_a_failing_item_does_not_take_its_batch_down(tmp_path, fakes, image_maker):
    jobs = []
    for k in range(4):
        image_maker(tmp_path / f"{k}.png", (16, 16), k)
        jobs.append({"image": str(tmp_path / f"{k}.png"), "instruction": "explode" if k == 2 else f"edit {k}"})
    run_batch(jobs, tmp_path / "out", fakes.FailOnWordEditor(), batch_size=4, progress=False)
    status = {r["id"]: (r["status"], r["error"]) for r in manifest_lines(tmp_path / "out")}
    assert status == {"0": ("ok", None), "1": ("ok", None), "2": ("error", "RuntimeError: kaboom"), "3": ("ok", None)}


def test_wrong_output_size_is_an_item_error(folder, tmp_path, fakes):
    run_batch(folder, tmp_path / "out", fakes.WrongSizeEditor(), instruction="x", progress=False)
    records = manifest_lines(tmp_path / "out")
    assert all(r["status"] == "error" and "editors must keep the size" in r["error"] for r in records)
    assert not list((tmp_path / "out").glob("a.png"))


def test_rerun_skips_finished_items_and_retries_errors(folder, tmp_path, fakes, image_maker):
    out = tmp_path / "out"
    (folder / "d.png").write_bytes(b"broken for now")
    run_batch(folder, out, fakes.RecordingEditor(), instruction="snow", progress=False)
    assert read_manifest(out)["d"]["status"] == "error"
    image_maker(folder / "d.png", (40, 24), 40)  # fixed
    editor = fakes.RecordingEditor()
    run_batch(folder, out, editor, instruction="snow", progress=False)
    assert editor.calls == [[(40, 24)]]  # only the item that had failed
    assert all(r["status"] == "ok" for r in manifest_lines(out)) and len(manifest_lines(out)) == 5
    summary = json.loads((out / SUMMARY).read_text())
    assert (summary["ok"], summary["skipped"]) == (1, 4)


def test_changed_jobs_or_editor_are_redone(folder, tmp_path, fakes):
    out = tmp_path / "out"
    run_batch(folder, out, fakes.RecordingEditor(), instruction="snow", progress=False)
    editor = fakes.RecordingEditor()
    run_batch(folder, out, editor, instruction="rain", progress=False)  # b keeps its sidecar instruction
    assert len(editor.requests) == 4 and {r.instruction for r in editor.requests} == {"rain"}
    editor = fakes.RecordingEditor()
    run_batch(folder, out, editor, instruction="rain", defaults={"num_inference_steps": 5}, progress=False)
    assert len(editor.requests) == 5
    editor = fakes.FailOnWordEditor()  # another editor (describe differs): everything again
    run_batch(folder, out, editor, instruction="rain", defaults={"num_inference_steps": 5}, progress=False)
    assert len(editor.requests) == 5
    editor = fakes.RecordingEditor()
    run_batch(folder, out, editor, instruction="rain", defaults={"num_inference_steps": 5}, resume=False,
              progress=False)
    assert len(editor.requests) == 5 and len(manifest_lines(out)) == 5


def test_a_deleted_output_is_redone(folder, tmp_path, fakes):
    out = tmp_path / "out"
    run_batch(folder, out, fakes.RecordingEditor(), instruction="x", progress=False)
    (out / "c.png").unlink()
    editor = fakes.RecordingEditor()
    run_batch(folder, out, editor, instruction="x", progress=False)
    assert len(editor.requests) == 1 and (out / "c.png").is_file()


def test_seeds_depend_on_the_id_not_the_order(tmp_path, fakes, image_maker):
    jobs = [{"image": str(image_maker(tmp_path / f"{k}.png", (8, 8), k)), "instruction": "x"} for k in range(3)]
    run_batch(jobs, tmp_path / "one", fakes.RecordingEditor(), seed=1, progress=False)
    run_batch(jobs[::-1], tmp_path / "two", fakes.RecordingEditor(), seed=1, progress=False)
    run_batch(jobs, tmp_path / "three", fakes.RecordingEditor(), seed=2, progress=False)
    seeds = [{k: r["seed"] for k, r in read_manifest(tmp_path / name).items()} for name in ("one", "two", "three")]
    assert seeds[0] == seeds[1] and seeds[0] != seeds[2] and len(set(seeds[0].values())) == 3


def test_a_torn_manifest_line_is_ignored(folder, tmp_path, fakes):
    out = tmp_path / "out"
    run_batch(folder, out, fakes.RecordingEditor(), instruction="x", progress=False)
    with open(out / MANIFEST, "ab") as handle:
        handle.write(b'{"id": "a", "status": "err')
    assert read_manifest(out)["a"]["status"] == "ok"
    editor = fakes.RecordingEditor()
    run_batch(folder, out, editor, instruction="x", progress=False)
    assert editor.requests == [] and len(manifest_lines(out)) == 5


def test_progress_bar_and_summary_line(folder, tmp_path, fakes, capsys):
    run_batch(folder, tmp_path / "out", fakes.RecordingEditor(), instruction="x")
    err = capsys.readouterr().err
    assert "5/5" in err
    assert err.strip().splitlines()[-1].startswith("editlab batch: 5 items: 5 ok, 0 error, 0 skipped")


@pytest.mark.parametrize(
    ("jobs", "kwargs", "message"),
    [
        ("nowhere", {}, "nowhere: not found; pass a folder of images or a .jsonl file"),
        ("empty", {}, "no images"),
        ("image.png", {}, "expected a folder of images or a .jsonl file"),
        ("in", {"editor": "no-such-model"}, "no-such-model"),
        ("in", {"batch_size": 0}, "batch_size must be a positive integer"),
        ([], {}, "the job list is empty"),
    ],
)
def test_bad_arguments_fail_before_writing_anything(folder, tmp_path, jobs, kwargs, message):
    (tmp_path / "empty").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "image.png")
    source = tmp_path / jobs if isinstance(jobs, str) else jobs
    with pytest.raises(EditlabError, match=message):
        run_batch(source, tmp_path / "out", kwargs.pop("editor", "identity"), instruction="x", progress=False,
                  **kwargs)
    assert not (tmp_path / "out").exists()


def test_load_jobs_from_dicts(tmp_path):
    jobs = load_jobs([{"image": "a.png", "instruction": "x"}, {"image": "b.png", "instruction": ""}])
    assert [j.id for j in jobs] == ["a", "b"] and jobs[0].error is None
    assert jobs[1].error == "job 2: empty or missing 'instruction'; say what to change"


def test_two_batches_cannot_write_one_folder(folder, tmp_path, fakes):
    from editlab.io.locking import file_lock

    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.png.tmp-abc123").write_bytes(b"half an image from a killed run")
    with file_lock(out / ".lock"):
        with pytest.raises(EditlabError, match="being written by another editlab batch"):
            run_batch(folder, out, fakes.RecordingEditor(), instruction="x", progress=False)
    assert not (out / MANIFEST).exists()
    run_batch(folder, out, fakes.RecordingEditor(), instruction="x", progress=False)
    assert not list(out.glob(".*.tmp-*")) and len(read_manifest(out)) == 5


def test_summary_lists_this_runs_failures_and_the_cli_exits_1_with_each_reason(folder, tmp_path, capsys):
    from editlab.cli.main import main

    (folder / "d.png").write_bytes(b"broken")
    (folder / "e.png").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["edit", str(folder), "snow", "-o", str(out), "--model", "identity"]) == 1
    err = capsys.readouterr().err
    failures = json.loads((out / SUMMARY).read_text())["failures"]
    assert [f["id"] for f in failures] == ["d", "e"]
    lines = [line for line in err.splitlines() if line.startswith("editlab: item")]
    assert lines[0].startswith("editlab: item 'd' failed: ") and "d.png" in lines[0]
    assert lines[1].startswith("editlab: item 'e' failed: ") and "empty" in lines[1]
    assert "Traceback" not in err and (out / "a.png").exists()  # the good items are kept
    fixed = Image.new("RGB", (8, 8))
    fixed.save(folder / "d.png")
    fixed.save(folder / "e.png")
    assert main(["edit", str(folder), "snow", "-o", str(out), "--model", "identity"]) == 0
    assert json.loads((out / SUMMARY).read_text())["failures"] == []


def test_a_batchjob_built_in_code_gets_the_id_checks(tmp_path, fakes, image_maker):
    from editlab.batch import BatchJob

    image_maker(tmp_path / "one.png", (16, 16), 1)
    jobs = [BatchJob(id="../escape", image=str(tmp_path / "one.png"), instruction="x")]
    run_batch(jobs, tmp_path / "out", fakes.RecordingEditor(), progress=False)
    (record,) = manifest_lines(tmp_path / "out")
    assert record["status"] == "error" and "cannot be a file name" in record["error"]
    assert not (tmp_path / "escape.png").exists()


def test_an_edited_manifest_output_is_not_followed(folder, tmp_path, fakes):
    out = tmp_path / "out"
    run_batch(folder, out, fakes.RecordingEditor(), instruction="snow", progress=False)
    records = manifest_lines(out)
    records[0]["output"] = "../in/a.png"  # exists, but outside OUT: the item must be redone
    (out / MANIFEST).write_text("".join(json.dumps(r) + "\n" for r in records))
    editor = fakes.RecordingEditor()
    run_batch(folder, out, editor, instruction="snow", progress=False)
    assert editor.calls == [[(32, 32)]] and read_manifest(out)["a"]["output"] == "a.png"
