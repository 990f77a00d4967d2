"""The job machinery: shards, resume, settings changes, fsspec paths, workers, errors, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from editlab.data import build_dataset
from editlab.data.schema import parquet_to_samples
from editlab.errors import EditlabError

PLAIN_TOYWORLD = """
name: tw-plain
description: toyworld without global stages
defaults: {n: 10, shard_size: 5}
stages:
  - stage: toyworld
    width: 32
    height: 32
  - stage: toyworld-render
"""


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".parquet", ".tar")}


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_toyworld_job_builds_a_dataset_equal_to_the_library_examples(tmp_path):
    import datasets

    from editlab.toyworld import generate_example

    result = build_dataset("toyworld", n=30, shard_size=10, out=str(tmp_path), seed=3, progress=False)
    # dedup and balance drop some of the first 30 items' rows: a second round adds shard 3
    assert [Path(p).name for p in result.data_files] == ["train-00000.parquet", "train-00001.parquet",
                                                         "train-00002.parquet", "train-00003.parquet"]
    ds = datasets.load_dataset("parquet", data_files=result.data_files, split="train")
    assert len(ds) == result.rows == 30
    single = ds.filter(lambda row: row["episode_id"] is None)
    for row in single.select(range(4)):
        index = json.loads(row["meta"])["index"]
        example = generate_example(3, split="train", index=index)
        assert row["instruction"] == example.instruction and row["task"] == example.task
        assert row["source_image"].tobytes() == example.source.tobytes()
        assert row["edited_image"].tobytes() == example.target.tobytes()
        assert row["mask"].tobytes() == example.mask.tobytes()
        assert json.loads(row["meta"])["edit"] == example.meta["edit"]
    # multi-turn episodes: every turn is the library's exact pair
    from editlab.toyworld import generate_episode

    turns = ds.filter(lambda row: row["episode_id"] is not None)
    assert len(turns) > 0
    first = json.loads(turns[0]["meta"])
    episode = generate_episode(3, index=first["index"])
    expected = next(t for t in episode.turns if t.turn == turns[0]["turn"])
    assert turns[0]["instruction"] == expected.instruction
    assert turns[0]["edited_image"].tobytes() == expected.target.tobytes()
    assert first["multi_turn_kind"] == episode.kind and first["parent_turn"] == expected.meta["parent_turn"]
    # per-sample status lives in the stage shards; stats, card and preview are written
    shard = parquet_to_samples((tmp_path / "stages/01-toyworld-render/00000.parquet").read_bytes())
    assert {s.status for s in shard} == {"ok"}
    assert (tmp_path / "stages/01-toyworld-render/00000.stats.json").exists()
    card = (tmp_path / "dataset_card.md").read_text()
    assert "### Rows per task" in card and "| dedup |" in card and "load_dataset" in card
    assert "<img src=\"data:image/png;base64," in (tmp_path / "preview.html").read_text()
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["rows"] == result.rows and sum(stats["tasks"].values()) == result.rows


def test_rerun_skips_finished_shards_and_redoes_broken_ones(tmp_path):
    build_dataset("toyworld", n=10, shard_size=5, out=str(tmp_path), progress=False)
    before, times = _digests(tmp_path), _mtimes(tmp_path)
    build_dataset("toyworld", n=10, shard_size=5, out=str(tmp_path), progress=False)
    after = _mtimes(tmp_path)
    shard_files = [k for k in times if k.startswith("stages/") and k.endswith((".parquet", ".stats.json"))]
    assert all(after[k] == times[k] for k in shard_files)  # nothing recomputed
    # a shard whose stats file is missing is not finished: only it (and what depends on it) reruns
    (tmp_path / "stages/01-toyworld-render/00001.stats.json").unlink()
    (tmp_path / "stages/01-toyworld-render/00001.parquet").write_bytes(b"half-written")
    build_dataset("toyworld", n=10, shard_size=5, out=str(tmp_path), progress=False)
    assert _digests(tmp_path) == before
    assert _mtimes(tmp_path)["stages/01-toyworld-render/00000.parquet"] == times["stages/01-toyworld-render/00000.parquet"]


def test_changed_settings_need_overwrite_and_rebuild_only_what_changed(tmp_path):
    build_dataset("toyworld", n=10, shard_size=5, out=str(tmp_path), progress=False)
    times = _mtimes(tmp_path)
    with pytest.raises(EditlabError, match="--overwrite"):
        build_dataset("toyworld", n=10, shard_size=5, out=str(tmp_path), progress=False, balance={"max_per_task": 0, "episodes": "balance"})
    result = build_dataset("toyworld", n=10, shard_size=5, out=str(tmp_path), progress=False, overwrite=True,
                           balance={"max_per_task": 0, "episodes": "balance"})
    assert result.rows == 0 and result.data_files == []
    assert not list((tmp_path / "data").glob("*.parquet"))  # stale files of the earlier run are gone
    after = _mtimes(tmp_path)
    assert after["stages/02-dedup/00000.parquet"] == times["stages/02-dedup/00000.parquet"]
    assert after["stages/03-balance/00000.parquet"] != times["stages/03-balance/00000.parquet"]


def test_growing_n_adds_shards_without_touching_earlier_ones(tmp_path):
    preset = tmp_path / "tw-plain.yaml"
    preset.write_text(PLAIN_TOYWORLD)
    out = tmp_path / "out"
    small = build_dataset(str(preset), n=10, out=str(out), progress=False)
    first = _digests(out)
    big = build_dataset(str(preset), n=20, out=str(out), progress=False)
    assert small.rows == 10 and big.rows == 20 and len(big.data_files) == 4
    assert all(_digests(out)[k] == v for k, v in first.items())


def test_fsspec_memory_filesystem(tmp_path):
    import fsspec

    result = build_dataset("toyworld", n=6, shard_size=3, out="memory://editlab-test/tw", progress=False)
    assert result.data_files[0].startswith("memory://")
    fs = fsspec.filesystem("memory")
    assert fs.exists("/editlab-test/tw/stats.json")
    with fsspec.open(result.data_files[0], "rb") as handle:
        rows = parquet_to_samples(handle.read())
    assert rows and rows[0].image("source").size == (64, 64)


def test_two_worker_processes_give_the_same_bytes_and_one_gpu_each(tmp_path, monkeypatch):
    from editlab.data.distributors import visible_gpus

    one = build_dataset("toyworld", n=8, shard_size=2, out=str(tmp_path / "one"), progress=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,6")  # workers get one each, round-robin
    assert visible_gpus() == ["5", "6"]
    two = build_dataset("toyworld", n=8, shard_size=2, out=str(tmp_path / "two"), progress=False, processes=2)
    assert one.rows == two.rows
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    seen = {json.loads(p.read_text())["worker"]["cuda_visible_devices"]
            for p in (tmp_path / "two/stages/01-toyworld-render").glob("*.stats.json")}
    assert seen and seen <= {"5", "6"}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_failures_become_data(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 24), (i * 80, 0, 0)).save(folder / f"{i}.png")
    (folder / "1.png").write_bytes(b"not a png")
    result = build_dataset("demo", n=3, shard_size=3, out=str(tmp_path / "out"), progress=False,
                           images={"path": str(folder), "resize": 16, "multiple_of": 8})
    shard = parquet_to_samples((tmp_path / "out/stages/00-images/00000.parquet").read_bytes())
    assert [s.status for s in shard] == ["ok", "error", "ok"]
    assert "not an image" in shard[1].error
    assert result.stats["stages"][0]["status"] == {"error": 1, "ok": 2}


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "at least one row"),
    ({"n": -3}, "pass --n 1 or more"),
    ({"shard_size": 0}, "--shard-size 1"),
    ({"processes": 0}, "--processes 1 or more"),
    ({"preview_rows": -1}, "--preview-rows 0 or more"),
    ({"clip_filter": {"top_k": 1}}, "match no stage"),
    ({"toyworld": {"colour": "red"}}, "no parameter 'colour'"),
    ({"toyworld": {"task": "color"}}, "did you mean 'tasks'"),
])
def test_bad_settings_are_one_line_errors(tmp_path, kwargs, message):
    with pytest.raises(EditlabError, match=message) as info:
        build_dataset("toyworld", out=str(tmp_path), progress=False, **{"n": 4, **kwargs})
    assert "\n" not in str(info.value)


def test_an_output_folder_holds_one_job(tmp_path):
    build_dataset("demo", n=2, shard_size=2, out=str(tmp_path), progress=False)
    with pytest.raises(EditlabError, match="holds another job"):
        build_dataset("toyworld", n=2, out=str(tmp_path), progress=False)
    result = build_dataset("toyworld", n=2, out=str(tmp_path), progress=False, overwrite=True)
    assert result.rows > 0 and not (tmp_path / "stages/01-classic-edit").exists()
    with pytest.raises(EditlabError, match="memory:// lives inside one process"):
        build_dataset("toyworld", n=2, out="memory://x", processes=2)


def test_unknown_preset_and_bad_chain(tmp_path):
    with pytest.raises(EditlabError, match="did you mean 'toyworld'"):
        build_dataset("toyworl", out=str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - stage: dedup\n  - stage: toyworld\n")
    with pytest.raises(EditlabError, match="must start with a source stage"):
        build_dataset(str(bad), n=2, out=str(tmp_path / "o"))


def test_cli(tmp_path, capsys):
    from editlab.cli.main import main

    assert main(["data", "--preset", "toyworld", "--n", "4", "--shard-size", "2", "--out", str(tmp_path), "--quiet",
                 "--set", "toyworld.width=32", "--set", "toyworld.height=32"]) == 0
    out = capsys.readouterr().out
    assert "| toyworld-render |" in out and "rows in 2 parquet files" in out
    assert main(["data", "--preset", "toyworld", "--set", "nonsense"]) == 2
    assert "STAGE.PARAM=VALUE" in capsys.readouterr().err
    assert main(["data", "--list-presets"]) == 0
    assert "ultraedit-region" in capsys.readouterr().out
