"""`editlab demo`: the main job end to end (with the identity editor here: the model is tested elsewhere)."""

import json

from editlab.cli.main import main


def test_demo_writes_scored_single_turn_and_sessions(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--model", "identity", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Single-turn" in printed and "backtracking" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["single_turn_success"] == 0.0  # identity changes nothing
    assert [row["kind"] for row in summary["episodes"]] == ["memory", "understanding", "backtracking"]
    results = json.loads((out / "single-turn" / "results.json").read_text())
    assert len(results["tasks"]) == 15
    for kind in ("memory", "understanding", "backtracking"):
        assert (out / "sessions" / kind / "history.gif").stat().st_size > 0
        assert (out / "sessions" / kind / "history.png").stat().st_size > 0
    # a rerun resumes (cached edits) and still succeeds
    assert main(["demo", "--model", "identity", "--out", str(out)]) == 0
