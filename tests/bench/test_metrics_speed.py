"""The speed benchmarks' machinery: metrics_speed.py's smoke run (--quick; the speed itself is measured
by the script, not here), the shared interleaving helper, and the README's numbers matching the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPT = BENCHMARKS / "metrics_speed.py"
sys.path.insert(0, str(BENCHMARKS))


def test_interleave_alternates_the_order_and_summary_reports_the_spread():
    from _timing import interleave, ratio, summary

    calls = []
    replies = interleave({"a": lambda i: calls.append(("a", i)) or {"seconds": 2.0 + i},
                          "b": lambda i: calls.append(("b", i)) or {"seconds": 1.0}}, 4)
    assert calls == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2), ("b", 3), ("a", 3)]
    a = summary([r["seconds"] for r in replies["a"]])
    assert (a["median"], a["min"], a["max"], a["n"]) == (3.5, 2.0, 5.0, 4)
    assert ratio(a, summary([1.0, 1.0, 1.0, 1.0])) == {"median": 3.5, "low": 2.0, "high": 5.0}


def test_readme_numbers_are_generated_from_the_committed_results():
    import run_all

    readme = run_all.README.read_text()
    block = readme[readme.index(run_all.START): readme.index(run_all.END) + len(run_all.END)]
    assert block == run_all.readme_block(), "README.md is stale: python benchmarks/run_all.py --readme"


@pytest.mark.slow
def test_metrics_speed_quick_writes_results(tmp_path):
    out = tmp_path / "metrics_speed.json"
    subprocess.run([sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--out", str(out)], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert result["pairs"] == 16 and set(result["max_abs_difference"]) == {"l1", "clip_i", "dino"}
    assert max(result["max_abs_difference"].values()) <= 1e-5
    for side in ("magicbrush_loop", "editlab_batched"):  # five timed passes a side, interleaved
        assert result["sides"][side]["seconds_per_pass"]["n"] == 5 and result["sides"][side]["peak_rss_mb"] > 0
    assert result["device_name"] and result["machine"]["cpu_model"] and result["command"].endswith("--device cpu")
