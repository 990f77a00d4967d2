"""toyworld through the harness: identity scores ~0, the oracle (ground truth) ~1, per task, offline."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from PIL import Image

from editlab.bench.harness import run_benchmark
from editlab.bench.suites import get_benchmark
from editlab.cli.main import main
from editlab.editors.base import Editor
from editlab.types import EditRequest

pytest.importorskip("editlab.toyworld.oracle")


class GroundTruthEditor(Editor):
    """What the toyworld `oracle` editor does: returns the exact target the benchmark hands over."""

    name = "ground-truth"

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        return [request.context["target"].copy() for request in requests]


def test_limit_covers_every_task_once():
    from editlab.toyworld import TOYWORLD_TASKS

    samples = get_benchmark("toyworld").samples(limit=len(TOYWORLD_TASKS))
    assert sorted(s.example.task for s in samples) == sorted(TOYWORLD_TASKS)
    assert all(s.edit_mask is None for s in samples)  # free-form unless use_masks=true


def test_identity_scores_zero_and_ground_truth_scores_one(tmp_path, capsys):
    assert main(["bench", "--editor", "identity", "--benchmark", "toyworld", "--limit", "15",
                 "--out", str(tmp_path / "identity")]) == 0
    identity = json.loads((tmp_path / "identity" / "results.json").read_text())
    assert identity["success"] == identity["overall"]["scores"]["success"] <= 0.1
    assert len(identity["tasks"]) == 15 and all("success" in t["scores"] for t in identity["tasks"].values())
    assert "| task | n | success |" in capsys.readouterr().out

    assert main(["bench", "--editor", "oracle", "--benchmark", "toyworld", "--limit", "15",
                 "--out", str(tmp_path / "oracle")]) == 0
    oracle = json.loads((tmp_path / "oracle" / "results.json").read_text())
    assert oracle["success"] >= 0.9 and oracle["config"]["editor"]["editor"] == "oracle"
    assert oracle["overall"]["scores"]["l1"] == 0.0
    assert oracle["judges"]["oracle"]["judge"] == "oracle"


def test_heldout_phrasings_split(tmp_path):
    results = run_benchmark(GroundTruthEditor(), "toyworld", options={"split": "heldout"}, out=tmp_path / "run",
                            limit=15, metrics=["l1"], print_table=False, progress=False)
    assert results["config"]["benchmark"]["options"]["split"] == "heldout"
    assert results["success"] >= 0.9


def test_multi_turn_episodes_chain_turns_and_backtrack(tmp_path, monkeypatch):
    """Episodes as toyworld describes them: turn k edits HEAD; a backtracking turn edits an earlier version."""
    from dataclasses import replace

    from editlab import toyworld

    def fake_episode(seed, *, split, index, width, height):
        first = toyworld.generate_example(seed, split=split, task="color", index=3 * index, width=width, height=height)
        second = toyworld.generate_example(seed, split=split, task="add", index=3 * index + 1, width=width, height=height)
        third = replace(first, instruction="Undo that and make it green instead.",
                        meta={**first.meta, "parent_turn": 1, "editor_instruction": "Make it green.", "kind": "backtracking"})
        return [replace(first, episode=f"ep{index}"), replace(second, episode=f"ep{index}"), third]

    monkeypatch.setitem(vars(toyworld), "generate_episode", fake_episode)
    samples = get_benchmark("toyworld", options={"mode": "multi", "episodes": 2}).samples()
    assert [s.id for s in samples[:3]] == ["ep0/turn1", "ep0/turn2", "ep0/turn3"]
    assert [s.input_from for s in samples[:3]] == [None, "ep0/turn1", "ep0/turn1"]  # turn 3 checks out turn 1
    assert samples[2].example.instruction == "Make it green." and samples[2].context["kind"] == "backtracking"
    results = run_benchmark("identity", get_benchmark("toyworld", options={"mode": "multi", "episodes": 2}),
                            out=tmp_path / "run", metrics=["l1"], judges=[], print_table=False, progress=False)
    assert set(results["groups"]) == {"turn1", "turn2", "turn3"}
    assert (tmp_path / "run" / "outputs" / "ep1" / "turn3.png").exists()


def test_real_episodes_identity_zero_oracle_one(tmp_path):
    pytest.importorskip("editlab.toyworld.episodes")
    bench = get_benchmark("toyworld", options={"mode": "multi", "episodes": 3})
    samples = bench.samples()
    backtracking = [s for s in samples if s.context["kind"] == "backtracking"]
    assert backtracking and all(s.id.startswith(s.example.episode) for s in samples)
    for sample in samples:
        parent = sample.example.meta["parent_turn"]
        assert sample.input_from == (None if parent == 0 else f"{sample.example.episode}/turn{parent}")
    oracle = run_benchmark("oracle", bench, out=tmp_path / "oracle", metrics=["l1"], print_table=False, progress=False)
    identity = run_benchmark("identity", bench, out=tmp_path / "identity", metrics=["l1"], print_table=False,
                             progress=False)
    assert oracle["episodes"]["n"] == 3 and oracle["episodes"]["success"] == 1.0
    assert identity["episodes"]["success"] == 0.0 and identity["success"] <= 0.1
    assert set(oracle["episodes"]["kinds"]) == {"memory", "understanding", "backtracking"}
