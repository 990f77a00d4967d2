"""Smoke test of benchmarks/metrics_speed.py (--quick); the speed itself is measured by the script, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "metrics_speed.py"


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
