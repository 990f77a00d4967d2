"""`n` is the number of rows written, in every preset shape; the card reports the real task shares."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from editlab.data import build_dataset
from editlab.data.export.card import task_balance
from editlab.data.export.shards import take_rows
from editlab.data.sample import Sample

SMALL_TOYWORLD = {"toyworld": {"width": 32, "height": 32}}


def _data_digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "data").glob("*.parquet"))}


@pytest.mark.parametrize("preset, n, kwargs", [
    ("toyworld", 9, SMALL_TOYWORLD),  # episodes (3 rows from one item), dedup, balance cuts to the rarest task
    ("toyworld", 1, SMALL_TOYWORLD),
    ("demo", 5, {}),  # balance keeps about a third of the items' rows
])
def test_n_is_the_number_of_rows_written(tmp_path, preset, n, kwargs):
    result = build_dataset(preset, n=n, shard_size=4, out=str(tmp_path), progress=False, **kwargs)
    assert result.rows == n == result.stats["rows_requested"] and result.stats["shortfall"] is None
    assert sum(result.stats["tasks"].values()) == n
    assert len(result.load()) == n
    episodes = {}
    for row in result.load():
        if row["episode_id"]:
            episodes.setdefault(row["episode_id"], []).append(row["turn"])
    assert all(sorted(turns) == list(range(1, len(turns) + 1)) for turns in episodes.values())  # whole episodes


def test_more_items_come_in_new_shards_and_any_history_gives_the_same_bytes(tmp_path):
    fresh = build_dataset("demo", n=6, shard_size=4, out=str(tmp_path / "fresh"), progress=False)
    assert fresh.stats["items"] > 6  # balance dropped rows: a later round made more items
    shards = fresh.stats["spec"]["shards"]
    assert shards[:2] == [[0, 4], [4, 6]]  # the first round, untouched
    assert all(a[1] == b[0] for a, b in zip(shards, shards[1:], strict=False))
    # another n first, then 6 in the same folder: the rounds do not depend on what is on disk
    build_dataset("demo", n=3, shard_size=4, out=str(tmp_path / "grown"), progress=False)
    grown = build_dataset("demo", n=6, shard_size=4, out=str(tmp_path / "grown"), progress=False)
    assert grown.rows == 6 and grown.stats["spec"]["shards"] == shards
    assert _data_digests(tmp_path / "grown") == _data_digests(tmp_path / "fresh")


def test_take_rows_keeps_episodes_whole_and_fills_with_later_rows():
    rows = [Sample(id="a"), Sample(id="e-t1", episode_id="e", turn=1), Sample(id="e-t2", episode_id="e", turn=2),
            Sample(id="e-t3", episode_id="e", turn=3), Sample(id="b"), Sample(id="c")]
    assert [s.id for s in take_rows(rows, 3)] == ["a", "b", "c"]  # the 3-turn episode does not fit after "a"
    assert [s.id for s in take_rows(rows, 4)] == ["a", "e-t1", "e-t2", "e-t3"]
    assert take_rows(rows, None) == rows and take_rows(rows, 0) == []


def test_fewer_rows_than_asked_say_why(tmp_path, capsys):
    from PIL import Image

    from editlab.cli.main import main

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 24), (i * 80, 0, 0)).save(folder / f"{i}.png")
    out = tmp_path / "out"
    assert main(["data", "--preset", "demo", "--n", "10", "-o", str(out), "--quiet", "--set",
                 f"images.path={folder}", "--set", "images.resize=16", "--set", "images.multiple_of=8"]) == 0
    printed = capsys.readouterr().out
    assert "fewer rows than the 10 asked for: the source ran out (3 source rows" in printed
    stats = json.loads((out / "stats.json").read_text())
    assert 0 < stats["rows"] < 10 and "source ran out" in stats["shortfall"]
    assert "Fewer rows than asked for: the source ran out" in (out / "dataset_card.md").read_text()


def test_nothing_passing_stops_with_the_reason(tmp_path):
    result = build_dataset("toyworld", n=3, out=str(tmp_path), progress=False,
                           balance={"max_per_task": 0, "episodes": "balance"}, **SMALL_TOYWORLD)
    assert result.rows == 0 and "no row passed every stage from 12 items" in result.stats["shortfall"]


def test_the_card_reports_task_shares_not_a_claim(tmp_path):
    assert task_balance({"add": 5, "color": 5, "move": 4}).startswith("Tasks are balanced: each holds 28.6% to 35.7%")
    uneven = task_balance({"add": 9, "color": 3, "move": 3})
    assert uneven == ("Tasks are not balanced: shares range from 20.0% (color, move) to 60.0% (add); the table "
                      "gives each task's share.")
    assert task_balance({"add": 4}) == ""
    result = build_dataset("toyworld", n=30, shard_size=10, out=str(tmp_path), progress=False, **SMALL_TOYWORLD)
    card = (tmp_path / "dataset_card.md").read_text()
    shares = {task: count / 30 for task, count in result.stats["tasks"].items()}
    assert "| rows asked for (n) | 30 |" in card and "### Rows per task" in card
    for task, share in shares.items():
        assert f"| {task} | {result.stats['tasks'][task]} | {share:.1%} |" in card
    line = next(line for line in card.splitlines() if line.startswith("Tasks are"))
    expected = "balanced" if max(shares.values()) <= 1.25 * min(shares.values()) else "not balanced"
    assert line.startswith(f"Tasks are {expected}")
    assert card.count("balanced") == 1  # the preset's description makes no claim of its own
